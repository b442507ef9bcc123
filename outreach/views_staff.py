"""Staff pages of outreach: send a person a booking link from a referral or a case.

Not visible → 404 (the referral's or case's own scoping); visible but not allowed → 403:
working the referral (`can_work_signalement`) or scheduling for the case
(`can_schedule_for_case`)."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format

from cases.permissions import can_schedule_for_case, get_accompagnement_for_user
from outreach.forms_staff import SendLinkForm
from outreach.links import Channel, booking_link_send
from pdp.pdf import PdfUnavailable
from referrals.permissions import can_work_signalement, get_signalement_for_user


def _send_link(request, *, context, back_url):
    assure = context.assure
    form = SendLinkForm(request.POST or None, assure=assure)
    if request.method == "POST" and form.is_valid():
        channel = form.cleaned_data["channel"]
        try:
            sent = booking_link_send(
                assure=assure, context=context, channel=channel, acting_user=request.user
            )
        except (ValidationError, PdfUnavailable) as error:
            form.add_error(
                "channel", error.messages if isinstance(error, ValidationError) else str(error)
            )
        else:
            if channel == Channel.COURRIER:
                response = HttpResponse(sent.pdf, content_type="application/pdf")
                day = timezone.localdate()
                response["Content-Disposition"] = (
                    f'attachment; filename="courrier-rendez-vous-{day:%Y-%m-%d}.pdf"'
                )
                return response
            messages.success(request, _done(sent))
            return redirect(back_url)
    return render(
        request,
        "outreach/staff_send_link.html",
        {
            "form": form,
            "assure": assure,
            "context": context,
            "back_url": back_url,
            "days": settings.BOOKING_LINK_DAYS,
        },
    )


def _done(sent):
    if sent.channel == Channel.EMAIL:
        return f"Lien envoyé par e-mail à {sent.recipient}."
    if sent.message.send_after is None:
        return f"Lien envoyé par SMS au {sent.recipient}."
    # No SMS at night, on Sundays or public holidays (pdp.messaging.quiet_hours).
    at = timezone.localtime(sent.message.send_after)
    return (
        f"Lien programmé : le SMS partira au {sent.recipient} le {date_format(at, 'l j F')}"
        f" à {at:%H:%M} (pas de SMS la nuit, le dimanche ni les jours fériés)."
    )


def send_link_signalement(request, pk):
    signalement = get_signalement_for_user(request.user, pk, can_work_signalement)
    back_url = reverse("referrals:signalement_detail", args=[signalement.pk])
    return _send_link(request, context=signalement, back_url=back_url)


def send_link_case(request, pk):
    case = get_accompagnement_for_user(request.user, pk, can_schedule_for_case)
    back_url = reverse("cases:accompagnement_detail", args=[case.pk])
    return _send_link(request, context=case, back_url=back_url)


urlpatterns = [
    path("signalements/<int:pk>/lien-rdv/", send_link_signalement, name="send_link_signalement"),
    path("accompagnements/<int:pk>/lien-rdv/", send_link_case, name="send_link_case"),
]
