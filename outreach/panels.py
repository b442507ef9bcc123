"""Outreach's « Prise de rendez-vous » on the referral and case pages (registered in
`OutreachConfig.ready`): a button to send the person a booking link, for whoever may, and on
an open referral a second one to book the first meeting for the person on the phone."""

from django.urls import reverse

from cases.models import CaseStatus
from cases.permissions import can_schedule_for_case
from referrals.permissions import can_work_signalement

TEMPLATE = "outreach/staff_panel.html"


def case_panel(request, case):
    if case.statut == CaseStatus.CLOTURE or not can_schedule_for_case(request.user, case):
        return None
    return {
        "template": TEMPLATE,
        "url": reverse("outreach:send_link_case", args=[case.pk]),
        "book_url": None,
    }


def referral_action(request, signalement):
    if not signalement.is_open or not can_work_signalement(request.user, signalement):
        return None
    return {
        "template": TEMPLATE,
        "url": reverse("outreach:send_link_signalement", args=[signalement.pk]),
        "book_url": reverse("outreach:book_for_signalement", args=[signalement.pk]),
    }
