"""The pages an assuré reaches without an account: a code (link or letter) → birth date →
book a meeting, or see, move and cancel the booked one, and turn the reminders off or back on
(issue 10, items 1, 3, 4 and 7).

Every page: no login, `Referrer-Policy: same-origin` and `Cache-Control: no-store`. The code
appears only in the entry URL `/r/<code>/`, which moves it into the session
(`pdp.access_codes.code_to_session`) and redirects; every invalid code gets one and the same
page (`code_invalid`), reached by the same redirect.

A code a campaign sent (issue 12) records the target's « lien ouvert » when it is entered
(`campaign_answers.target_opened`), and its booking page offers, under the slots, to decline
the invitation (`campaign_refuse`: a confirmation step, then `campaign_answers.target_refused`),
behind the same birth-date check as the booking itself."""

import datetime
from collections import OrderedDict

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from outreach import booking, campaign_answers, ics, reminders
from outreach.forms_public import BirthDateForm, CancelForm, CodeForm
from pdp import access_codes
from pdp.audit import audit_many
from pdp.models import AccessCode, AuditLog, Unit
from pdp.ratelimit import RATE_LIMIT_MESSAGE, access_code_lookup_allowed
from referrals.models import Assure

SURVEY_SESSION_LIFETIME = datetime.timedelta(hours=1)
IDENTIFIED = "outreach_identified"  # pk of the code whose birth date was confirmed
# The meeting just booked or moved: {"kind", "pk", "assure_id", "moved", "sent"} ("sent": the
# confirmation's channel, "sms" / "email", or "" when the person has neither).
DONE = "outreach_meeting"
WEEKS = 9  # weeks a person can page through (the motif's window may end sooner)
BIRTH_DATE_ERROR = "Cette date de naissance ne correspond pas. Vérifiez-la et réessayez."
# The confirmations of the « Rappels » button (\u00a0: no-break space before « : »).
REMINDERS_OFF = "C'est noté\u00a0: vous ne recevrez plus de rappel avant vos rendez-vous."
REMINDERS_ON = (
    "C'est noté\u00a0: vous recevrez à nouveau un rappel 48\u00a0heures avant vos rendez-vous."
)


def public(view):
    """A page for people without an account."""

    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        # same-origin, not no-referrer: with no-referrer Chromium posts forms with « Origin: null »,
        # which Django's CSRF check refuses. No Referer leaves the site, and no URL past the entry
        # holds the code.
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex"
        return response

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return login_not_required(never_cache(wrapped))


def _read_own(meeting, page):
    """A public page showed the identified assuré (code and birth date) their own appointment:
    a read row with no user — the person themself — and their assuré's id (domain §11)."""
    audit_many(
        user=None,
        action=AuditLog.Action.VIEW,
        model=apps.get_model(meeting.kind),
        entries=[(meeting.pk, meeting.assure.pk, {"page": page})],
    )


def _too_many(request):
    return render(
        request, "outreach/public_rate_limited.html", {"message": RATE_LIMIT_MESSAGE}, status=429
    )


def _invalid():
    return redirect("outreach:code_invalid")


def _enter(request, code):
    if not access_code_lookup_allowed(request):
        return _too_many(request)
    row = access_codes.access_code_lookup(code=code)
    if row is None:
        return _invalid()
    campaign_answers.target_opened(code_row=row)
    if row.purpose == AccessCode.Purpose.SURVEY:
        # The questionnaire shows nothing personal: no birth date asked, and an hour to
        # answer it rather than ten minutes.
        access_codes.code_to_session(request, row, lifetime=SURVEY_SESSION_LIFETIME)
        return redirect("outreach:survey")
    access_codes.code_to_session(request, row)
    request.session.pop(IDENTIFIED, None)
    return redirect("outreach:identify")


@public
@require_http_methods(["GET", "HEAD"])
def code_entry(request, code):
    return _enter(request, code)


@public
@require_http_methods(["GET", "HEAD", "POST"])
def code_form(request):
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return _enter(request, form.cleaned_data["code"])
    return render(request, "outreach/public_code_form.html", {"form": form})


@public
@require_http_methods(["GET", "HEAD"])
def code_invalid(request):
    units = (
        Unit.objects.exclude(telephone="").select_related("region").order_by("region__name", "name")
    )
    return render(request, "outreach/public_invalid.html", {"units": units})


def _identified(request, purpose):
    row = access_codes.row_from_session(request)
    if row is None or row.purpose != purpose or request.session.get(IDENTIFIED) != row.pk:
        return None
    return row


AFTER_IDENTIFICATION = {
    AccessCode.Purpose.BOOKING: "outreach:booking",
    AccessCode.Purpose.WEBINAR: "outreach:webinar",
}
IDENTIFY_HEADINGS = {
    AccessCode.Purpose.WEBINAR: "Invitation du service social de l'Assurance Maladie",
}


def _after_identification(row):
    return redirect(AFTER_IDENTIFICATION.get(row.purpose, "outreach:manage"))


@public
@require_http_methods(["GET", "HEAD", "POST"])
def identify(request):
    row = access_codes.row_from_session(request)
    if row is None:
        return _invalid()
    if request.session.get(IDENTIFIED) == row.pk:
        return _after_identification(row)
    form = BirthDateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        actual = (
            Assure.objects.filter(pk=row.assure_id).values_list("date_naissance", flat=True).first()
        )
        typed = form.birth_date()
        if actual is not None and access_codes.access_code_check_birth_date(
            row=row, birth_date=typed, actual_birth_date=actual
        ):
            request.session[IDENTIFIED] = row.pk
            return _after_identification(row)
        if row.locked_at is not None or actual is None:
            access_codes.session_forget(request)
            return _invalid()
        form.add_error(None, BIRTH_DATE_ERROR)
    heading = IDENTIFY_HEADINGS.get(
        row.purpose, "Rendez-vous avec le service social de l'Assurance Maladie"
    )
    return render(request, "outreach/public_identify.html", {"form": form, "heading": heading})


# --- Slots -------------------------------------------------------------------------------


def _week(request):
    try:
        return min(max(int(request.GET.get("semaine", 0)), 0), WEEKS - 1)
    except ValueError:
        return 0


def _chosen(request):
    """The slot start a link carries (?t=<unix time>), or None."""
    try:
        return datetime.datetime.fromtimestamp(
            int(request.GET.get("t") or request.POST.get("t")), tz=datetime.UTC
        )
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _by_day(slots):
    days = OrderedDict()
    for debut, fin, _ass_id in slots:
        days.setdefault(timezone.localdate(debut), []).append((debut, fin, int(debut.timestamp())))
    return list(days.items())


def _week_slots(*, ass_ids, motif, mode, week):
    now = timezone.now()
    monday = timezone.localdate(now) - datetime.timedelta(days=timezone.localdate(now).weekday())
    start_day = monday + datetime.timedelta(weeks=week)
    start = timezone.make_aware(datetime.datetime.combine(start_day, datetime.time.min))
    end = start + datetime.timedelta(days=7)
    slots = booking.booking_slots(
        ass_ids=ass_ids, motif=motif, mode=mode, start=max(start, now), end=end
    )
    return start_day, _by_day(slots)


def _slots_page(
    request,
    *,
    ass_ids,
    motif,
    mode,
    action,
    error=None,
    next_slots=(),
    status=200,
    refusable=False,
):
    week = _week(request)
    start_day, days = _week_slots(ass_ids=ass_ids, motif=motif, mode=mode, week=week)
    return render(
        request,
        "outreach/public_slots.html",
        {
            "action": action,
            "mode": mode,
            "mode_label": booking.Entretien.Mode(mode).label,
            "week": week,
            "previous_week": week - 1 if week > 0 else None,
            "next_week": week + 1 if week + 1 < WEEKS else None,
            "start_day": start_day,
            "end_day": start_day + datetime.timedelta(days=6),
            "days": days,
            "error": error,
            "next_slots": _by_day(next_slots),
            "refusable": refusable,
        },
        status=status,
    )


# --- Booking -----------------------------------------------------------------------------


@public
@require_http_methods(["GET", "HEAD", "POST"])
def booking_page(request):
    row = _identified(request, AccessCode.Purpose.BOOKING)
    if row is None:
        return _invalid()
    context = booking.booking_context(code_row=row)
    if context is None:
        return _invalid()
    modes = booking.booking_modes(context)
    mode = request.GET.get("mode") or request.POST.get("mode")
    if mode not in modes:
        if len(modes) != 1:
            labels = [(m, booking.Entretien.Mode(m).label) for m in modes]
            return render(
                request,
                "outreach/public_modes.html",
                {"modes": labels, "refusable": context.refusable},
            )
        mode = modes[0]
    debut = _chosen(request)
    if debut is None:
        return _slots_page(
            request,
            ass_ids=context.ass_ids,
            motif=context.motif,
            mode=mode,
            action="outreach:booking",
            refusable=context.refusable,
        )
    ass = booking.slot_owner(context=context, mode=mode, debut=debut)
    try:
        if ass is None:
            raise booking.SlotTaken(booking.next_slots(context.ass_ids, context.motif, mode, debut))
        if request.method != "POST":
            return render(
                request,
                "outreach/public_confirm.html",
                {
                    "action": "outreach:booking",
                    "mode": mode,
                    "mode_label": booking.Entretien.Mode(mode).label,
                    "debut": debut,
                    "t": int(debut.timestamp()),
                    "place": booking.meeting_place(ass, debut, mode, context.unit),
                },
            )
        result = booking.booking_book(
            code_row=row,
            assure=context.assure,
            ass=ass,
            debut=debut,
            motif=context.motif,
            mode=mode,
        )
    except booking.SlotTaken as taken:
        return _slots_page(
            request,
            ass_ids=context.ass_ids,
            motif=context.motif,
            mode=mode,
            action="outreach:booking",
            error=booking.SLOT_TAKEN,
            next_slots=taken.next_slots,
            status=409,
            refusable=context.refusable,
        )
    except ValidationError:
        return _invalid()
    return _done(request, result)


@public
@require_http_methods(["GET", "HEAD", "POST"])
def campaign_refuse(request):
    """« Je ne souhaite pas être recontacté(e) »: a campaign's invitation declined by the
    identified person (GET: the confirmation step; POST: `target_refused`, then a thank-you
    page with the unit's phone number). Only for a campaign code with nothing open yet."""
    row = _identified(request, AccessCode.Purpose.BOOKING)
    context = booking.booking_context(code_row=row) if row is not None else None
    if context is None or not context.refusable:
        return _invalid()
    if request.method != "POST":
        return render(request, "outreach/public_refuse.html", {})
    try:
        campaign_answers.target_refused(cible=context.cible)
    except ValidationError:
        return _invalid()
    access_codes.session_forget(request)
    request.session.pop(IDENTIFIED, None)
    return render(request, "outreach/public_refused.html", {"unit": context.unit})


def _done(request, result, *, moved=False):
    access_codes.session_forget(request)
    request.session.pop(IDENTIFIED, None)
    meeting = result.meeting
    request.session[DONE] = {
        "kind": meeting.kind,
        "pk": meeting.pk,
        "assure_id": meeting.assure.pk,
        "moved": moved,
        "sent": result.message.channel if result.message is not None else "",
        # A deferred SMS (no e-mail address to send instead): when it will go.
        "later": (
            result.message.send_after.timestamp()
            if result.message is not None and result.message.send_after is not None
            else None
        ),
    }
    return redirect("outreach:confirmation")


def _done_meeting(request):
    entry = request.session.get(DONE)
    if not isinstance(entry, dict):
        return None
    kind = entry.get("kind")
    if kind not in (booking.ENTRETIEN, booking.SIGNALEMENT):
        return None
    fake = AccessCode(
        purpose=AccessCode.Purpose.MANAGE,
        assure_id=entry.get("assure_id"),
        object_type=kind,
        object_id=str(entry.get("pk")),
    )
    return booking.meeting_for(code_row=fake)


def _later(timestamp):
    if not isinstance(timestamp, int | float):
        return None
    try:
        return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return None


@public
@require_http_methods(["GET", "HEAD"])
def confirmation(request):
    meeting = _done_meeting(request)
    if meeting is None:
        return _invalid()
    entry = request.session[DONE]
    _read_own(meeting, "confirmation du rendez-vous (public)")
    return render(
        request,
        "outreach/public_confirmation.html",
        {
            "meeting": meeting,
            "moved": entry.get("moved"),
            "sent": entry.get("sent"),
            "later": _later(entry.get("later")),
        },
    )


@public
@require_http_methods(["GET", "HEAD"])
def ics_download(request):
    meeting = _done_meeting(request)
    if meeting is None:
        row = _identified(request, AccessCode.Purpose.MANAGE)
        meeting = booking.meeting_for(code_row=row) if row is not None else None
    if meeting is None:
        return _invalid()
    _read_own(meeting, "rendez-vous.ics (public)")
    response = HttpResponse(ics.meeting_ics(meeting), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="rendez-vous.ics"'
    return response


# --- Manage --------------------------------------------------------------------------------


def _managed(request):
    row = _identified(request, AccessCode.Purpose.MANAGE)
    meeting = booking.meeting_for(code_row=row) if row is not None else None
    if meeting is None or meeting.cancelled:
        return row, None
    return row, meeting


@public
@require_http_methods(["GET", "HEAD"])
def manage(request):
    _row, meeting = _managed(request)
    if meeting is None:
        return _invalid()
    _read_own(meeting, "gestion du rendez-vous (public)")
    return render(
        request, "outreach/public_manage.html", {"meeting": meeting, "form": CancelForm()}
    )


@public
@require_POST
def manage_cancel(request):
    row, meeting = _managed(request)
    if meeting is None:
        return _invalid()
    form = CancelForm(request.POST)
    if not form.is_valid():
        return render(
            request, "outreach/public_manage.html", {"meeting": meeting, "form": form}, status=400
        )
    try:
        result = booking.booking_cancel(code_row=row, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        return render(
            request,
            "outreach/public_manage.html",
            {"meeting": meeting, "form": form, "error": exc.messages[0]},
            status=400,
        )
    access_codes.session_forget(request)
    request.session.pop(IDENTIFIED, None)
    if result.rebook_row is not None:
        # The person is identified: the fresh booking code opens the slots without asking
        # their birth date again (the same code was sent to them to come back later).
        access_codes.code_to_session(request, result.rebook_row)
        request.session[IDENTIFIED] = result.rebook_row.pk
    return render(
        request,
        "outreach/public_cancelled.html",
        {
            "meeting": result.meeting,
            "rebook": result.rebook_row is not None,
            "sent": result.message,
        },
    )


@public
@require_http_methods(["GET", "HEAD", "POST"])
def manage_move(request):
    row, meeting = _managed(request)
    if meeting is None:
        return _invalid()
    if not meeting.can_move():
        return render(
            request, "outreach/public_manage.html", {"meeting": meeting, "form": CancelForm()}
        )
    ass_ids, motif, mode = [meeting.ass.pk], meeting.motif, meeting.mode
    debut = _chosen(request)
    if debut is None:
        return _slots_page(request, ass_ids=ass_ids, motif=motif, mode=mode, action="outreach:move")
    try:
        if request.method != "POST":
            return render(
                request,
                "outreach/public_confirm.html",
                {
                    "action": "outreach:move",
                    "mode": mode,
                    "mode_label": meeting.mode_label,
                    "debut": debut,
                    "t": int(debut.timestamp()),
                    "place": booking.meeting_place(meeting.ass, debut, mode, meeting.unit),
                    "moving": meeting,
                },
            )
        result = booking.booking_move(code_row=row, debut=debut)
    except booking.SlotTaken as taken:
        return _slots_page(
            request,
            ass_ids=ass_ids,
            motif=motif,
            mode=mode,
            action="outreach:move",
            error=booking.SLOT_TAKEN,
            next_slots=taken.next_slots,
            status=409,
        )
    except ValidationError as exc:
        return render(
            request,
            "outreach/public_manage.html",
            {"meeting": meeting, "form": CancelForm(), "error": exc.messages[0]},
            status=400,
        )
    return _done(request, result, moved=True)


@public
@require_POST
def manage_reminders(request):
    """Turn the person's reminders off (``rappels=0``) or back on (``rappels=1``), then back to
    the manage page with a confirmation. The wanted state is posted, not toggled, so a double
    click or a resent form cannot flip it back."""
    _row, meeting = _managed(request)
    if meeting is None:
        return _invalid()
    wanted = request.POST.get("rappels")
    if wanted not in ("0", "1"):
        return render(
            request,
            "outreach/public_manage.html",
            {"meeting": meeting, "form": CancelForm()},
            status=400,
        )
    enabled = wanted == "1"
    reminders.assure_reminders_set(assure=meeting.assure, enabled=enabled, acting_user=None)
    messages.success(request, REMINDERS_ON if enabled else REMINDERS_OFF)
    return redirect("outreach:manage")


urlpatterns = [
    path("r/", code_form, name="code_form"),
    path("r/<str:code>/", code_entry, name="code_entry"),
    path("rdv/lien-invalide/", code_invalid, name="code_invalid"),
    path("rdv/identification/", identify, name="identify"),
    path("rdv/", booking_page, name="booking"),
    path("rdv/confirmation/", confirmation, name="confirmation"),
    path("rdv/ne-plus-etre-recontacte/", campaign_refuse, name="campaign_refuse"),
    path("rdv/rendez-vous.ics", ics_download, name="ics"),
    path("rdv/gerer/", manage, name="manage"),
    path("rdv/gerer/annuler/", manage_cancel, name="cancel"),
    path("rdv/gerer/deplacer/", manage_move, name="move"),
    path("rdv/gerer/rappels/", manage_reminders, name="reminders_toggle"),
]
