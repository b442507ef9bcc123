"""Staff pages of outreach: send a person a booking link from a referral or a case, or book
the first meeting for the person on the phone (`outreach.staff_booking`).

Not visible → 404 (the referral's or case's own scoping); visible but not allowed → 403:
working the referral (`can_work_signalement`) or scheduling for the case
(`can_schedule_for_case`)."""

import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format

from cases.models import Entretien
from cases.permissions import can_schedule_for_case, get_accompagnement_for_user
from outreach import staff_booking
from outreach.booking import SlotTaken, booking_modes
from outreach.forms_staff import SendLinkForm
from outreach.links import Channel, booking_link_send, mask_email, mask_phone
from pdp.audit import audit
from pdp.models import AuditLog, Message
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
    # The form shows the person's phone, e-mail and address: a read of their file.
    audit(
        user=request.user,
        action=AuditLog.Action.VIEW,
        obj=context,
        assure_id=assure.pk,
        changes={"page": "envoi d'un lien de rendez-vous"},
    )
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


# --- Booking the first meeting for the person on the phone ------------------------------

NBSP = "\u00a0"
DAYS_PER_PAGE = 7  # days with free slots shown at once; « Créneaux suivants » for more
CLOSED = f"Ce signalement est clos{NBSP}: aucun rendez-vous ne peut plus y être pris."
BAD_SLOT = f"Ce créneau est illisible{NBSP}: choisissez un créneau dans la liste."
BAD_ASS = (
    f"Cette ASS n'est pas une ASS en activité de l'unité{NBSP}: choisissez un créneau dans la"
    " liste."
)
# A slot's start is within the motif's window; far outside it is a mangled form, refused
# before any date arithmetic (year 1 or 9999 would overflow).
PLAUSIBLE = datetime.timedelta(days=400)
BAD_MODE = "Choisissez une modalité parmi celles proposées."
TAKEN = (
    f"Ce créneau vient d'être pris{NBSP}: choisissez-en un autre. Voici les suivants avec la même"
    " ASS."
)


def day_label(day, today=None):
    """« mardi 2 mars », « lundi 1er mars », with the year when it is not this year's."""
    today = today or timezone.localdate()
    number = "1er" if day.day == 1 else str(day.day)
    label = f"{date_format(day, 'l')} {number} {date_format(day, 'F')}"
    return label if day.year == today.year else f"{label} {day.year}"


def time_label(moment):
    """« 9 h 30 », « 14 h » (Paris time, non-breaking spaces)."""
    local = timezone.localtime(moment)
    minutes = f"{NBSP}{local.minute:02d}" if local.minute else ""
    return f"{local.hour}{NBSP}h{minutes}"


def _by_day(slots, names):
    days = {}
    for debut, _fin, ass_id in slots:
        day = timezone.localdate(debut)
        entry = days.setdefault(day, {"day": day, "label": day_label(day), "slots": []})
        entry["slots"].append(
            {
                "debut": timezone.localtime(debut).isoformat(),
                "label": time_label(debut),
                "ass_id": ass_id,
                "ass_name": names[ass_id],
            }
        )
    return list(days.values())


def _confirmation_text(result):
    """How the confirmation goes, for the staff member's success message."""
    message = result.message
    if message is None:
        return (
            f"Aucune confirmation envoyée{NBSP}: la personne n'a ni mobile ni e-mail — "
            "donnez-lui la date au téléphone."
        )
    if message.channel == Message.Channel.EMAIL:
        return (
            f"Confirmation envoyée par e-mail à {mask_email(message.recipient)}, avec un lien "
            "pour annuler ou déplacer le rendez-vous."
        )
    recipient = mask_phone(message.recipient)
    if message.send_after is None:
        return (
            f"Confirmation envoyée par SMS au {recipient}, avec un lien pour annuler ou "
            "déplacer le rendez-vous."
        )
    # No SMS at night, on Sundays or public holidays (pdp.messaging.quiet_hours).
    at = message.send_after
    day, today = timezone.localdate(at), timezone.localdate()
    when = {today: "aujourd'hui", today + datetime.timedelta(days=1): "demain"}.get(day)
    return (
        f"La confirmation partira par SMS au {recipient} {when or 'le ' + day_label(day)}"
        f" à {time_label(at)} (pas de SMS la nuit, le dimanche ni les jours fériés)."
    )


def _booked_text(result):
    meeting = result.meeting
    how = meeting.mode_label.lower()
    if meeting.mode == Entretien.Mode.SUR_PLACE:
        how = f"{how}, {meeting.place}"
    return (
        f"Rendez-vous pris pour {meeting.assure} le {day_label(timezone.localdate(meeting.debut))}"
        f" à {time_label(meeting.debut)} avec {meeting.ass} ({how}). "
        f"{_confirmation_text(result)}"
    )


def _proposed_text(signalement):
    """The first meeting already proposed on the referral, in words, or ""."""
    if signalement.rdv_debut is None:
        return ""
    at = signalement.rdv_debut
    who = f" avec {signalement.rdv_ass}" if signalement.rdv_ass_id else ""
    mode = f" ({signalement.get_rdv_mode_display().lower()})" if signalement.rdv_mode else ""
    return (
        f"Un premier rendez-vous est déjà proposé le {day_label(timezone.localdate(at))} à "
        f"{time_label(at)}{who}{mode}."
    )


def _chosen_ass(request, staff):
    """The ASS of `?ass=` among `staff`, or None (all of them)."""
    wanted = request.GET.get("ass", "")
    return next((ass for ass in staff if str(ass.pk) == wanted), None)


def _first_day(request):
    try:
        return datetime.date.fromisoformat(request.GET.get("du", ""))
    except ValueError:
        return None


def _posted(request, staff):
    """(ass, debut, mode) of a slot button, or raise ValidationError (French)."""
    mode = request.POST.get("mode", "")
    if mode not in Entretien.Mode.values:
        raise ValidationError(BAD_MODE)
    ass = next((a for a in staff if str(a.pk) == request.POST.get("ass", "")), None)
    if ass is None:
        raise ValidationError(BAD_ASS)
    try:
        debut = datetime.datetime.fromisoformat(request.POST.get("debut", ""))
    except ValueError:
        raise ValidationError(BAD_SLOT) from None
    if timezone.is_naive(debut) or abs(debut - timezone.now()) > PLAUSIBLE:
        raise ValidationError(BAD_SLOT)
    return ass, debut, mode


def book_for_signalement(request, pk):
    """The free slots of the unit's ASS (or of one) for the referral's first meeting; a slot's
    button books it for the person on the phone (`staff_booking.booking_book_for_person`)."""
    signalement = get_signalement_for_user(request.user, pk, can_work_signalement)
    if not signalement.is_open:
        raise PermissionDenied(CLOSED)
    # From a campaign's call list (« ?retour=appels »), back to it once booked; else the referral.
    from_calls = request.GET.get("retour") == "appels"
    back_url = (
        reverse("outreach:calls")
        if from_calls
        else reverse("referrals:signalement_detail", args=[signalement.pk])
    )
    staff = staff_booking.unit_ass(signalement)
    chosen = _chosen_ass(request, staff)
    shown = [chosen] if chosen else staff
    context = staff_booking.first_meeting_context(signalement, [a.pk for a in shown])
    modes = booking_modes(context)
    mode = request.GET.get("mode") or request.POST.get("mode")
    if mode not in modes:
        mode = modes[0] if len(modes) == 1 else None
    error, status, taken_slots = None, 200, []
    if request.method == "POST":
        try:
            ass, debut, posted_mode = _posted(request, staff)
            result = staff_booking.booking_book_for_person(
                signalement=signalement,
                acting_user=request.user,
                ass=ass,
                debut=debut,
                mode=posted_mode,
            )
        except SlotTaken as taken:
            error, status, taken_slots = TAKEN, 409, taken.next_slots
            signalement.refresh_from_db()  # the service rolled back what it had changed
        except ValidationError as exc:
            error = " ".join(exc.messages)
            signalement.refresh_from_db()
        else:
            messages.success(request, _booked_text(result))
            return redirect(back_url)
    else:
        audit(
            user=request.user,
            action=AuditLog.Action.VIEW,
            obj=signalement,
            assure_id=signalement.assure_id,
        )
    names = {ass.pk: str(ass) for ass in staff}
    days = []
    if mode is not None:
        slots = staff_booking.staff_slots(ass_ids=context.ass_ids, motif=context.motif, mode=mode)
        days = _by_day(slots, names)
    first_day = _first_day(request)
    later = [d for d in days if first_day is None or d["day"] >= first_day]
    page = later[:DAYS_PER_PAGE]
    query = {
        "mode": mode or "",
        "ass": chosen.pk if chosen else "",
        "retour": "appels" if from_calls else "",
    }

    def url(**extra):
        return f"{request.path}?{urlencode({k: v for k, v in {**query, **extra}.items() if v})}"

    return render(
        request,
        "outreach/staff_book.html",
        {
            "signalement": signalement,
            "assure": signalement.assure,
            "back_url": back_url,
            "back_label": "Retour aux appels de campagne"
            if from_calls
            else "Retour au signalement",
            "staff": staff,
            "chosen": chosen,
            "several": len(shown) > 1,
            "modes": [
                {"value": m, "label": Entretien.Mode(m).label, "url": url(mode=m)} for m in modes
            ],
            "mode": mode,
            "mode_label": Entretien.Mode(mode).label if mode else "",
            "motif": context.motif,
            "days": page,
            "more_url": url(du=(page[-1]["day"] + datetime.timedelta(days=1)).isoformat())
            if len(later) > len(page)
            else None,
            "first_url": url() if first_day is not None and len(later) < len(days) else None,
            "action_url": request.get_full_path(),
            "error": error,
            "taken_days": _by_day(taken_slots, names),
            "recipient": staff_booking.confirmation_recipient(signalement.assure),
            "proposed": _proposed_text(signalement),
        },
        status=status,
    )


urlpatterns = [
    path("signalements/<int:pk>/lien-rdv/", send_link_signalement, name="send_link_signalement"),
    path("signalements/<int:pk>/prendre-rdv/", book_for_signalement, name="book_for_signalement"),
    path("accompagnements/<int:pk>/lien-rdv/", send_link_case, name="send_link_case"),
]
