"""Outreach's « Prise de rendez-vous » on the referral and case pages (registered in
`OutreachConfig.ready`): a button to send the person a booking link, for whoever may, and on
an open referral a second one to book the first meeting for the person on the phone; and the
last messages sent to the person, with their status — so that staff see a deferred SMS, or one
that failed (a lost task, a wrong number), rather than wait for an answer that cannot come."""

from django.urls import reverse

from cases.models import CaseStatus
from cases.permissions import can_schedule_for_case
from pdp.models import Message
from referrals.permissions import can_work_signalement

TEMPLATE = "outreach/staff_panel.html"
LAST_MESSAGES = 5
# What each message template is, for staff (the texts themselves say nothing about health).
MESSAGE_LABELS = {
    "outreach.booking_link": "Lien de prise de rendez-vous",
    "booking_confirmation": "Confirmation de rendez-vous",
    "booking_confirmation_staff": "Confirmation de rendez-vous",
    "booking_moved": "Rendez-vous déplacé",
    "booking_cancelled": "Annulation de rendez-vous",
    "outreach/rappel_j2": "Rappel 48\u00a0h avant le rendez-vous",
    "outreach.webinar_invitation": "Invitation à une action collective",
    "outreach.webinar_registered": "Inscription à une action collective",
    "outreach.webinar_waitlist": "Liste d'attente d'une action collective",
    "outreach.webinar_promoted": "Place proposée (action collective)",
    "outreach.webinar_j1": "Rappel la veille (action collective)",
    "outreach.webinar_h1": "Rappel une heure avant (action collective)",
    "outreach.webinar_merci": "Remerciement après une action collective",
    "outreach.action_cancelled": "Action collective annulée",
    "outreach/enquete": "Questionnaire de satisfaction",
    "outreach/enquete_relance": "Relance du questionnaire de satisfaction",
}
BADGES = {
    Message.Status.SENT: "text-bg-success",
    Message.Status.DEFERRED: "text-bg-warning",
    Message.Status.FAILED: "text-bg-danger",
}


def last_messages(assure_id):
    """The person's last messages, newest first (one query), labelled for staff."""
    rows = list(
        Message.objects.filter(assure_id=assure_id).order_by("-created_at", "-pk")[:LAST_MESSAGES]
    )
    for row in rows:
        row.label = MESSAGE_LABELS.get(row.template, row.template)
        row.badge = BADGES.get(row.status, "text-bg-secondary")
    return rows


def case_panel(request, case):
    if case.statut == CaseStatus.CLOTURE or not can_schedule_for_case(request.user, case):
        return None
    return {
        "template": TEMPLATE,
        "url": reverse("outreach:send_link_case", args=[case.pk]),
        "book_url": None,
        "messages": last_messages(case.assure_id),
    }


def referral_action(request, signalement):
    if not signalement.is_open or not can_work_signalement(request.user, signalement):
        return None
    return {
        "template": TEMPLATE,
        "url": reverse("outreach:send_link_signalement", args=[signalement.pk]),
        "book_url": reverse("outreach:book_for_signalement", args=[signalement.pk]),
        "messages": last_messages(signalement.assure_id),
    }
