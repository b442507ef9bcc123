"""Webinar pages (issue 11, item 3; services in `outreach.webinars`).

Staff: « Inviter des personnes » of an action (`/actions-collectives/<pk>/invitations/`):
not visible (another region) → 404, visible but not run by the user
(`collective.permissions.can_run_action`) → 403.

Public (no account, mobile first; reached through `/r/<code>/` and the birth date, like the
booking pages): the webinar page of a « webinar » code — register, cancel, confirm a freed
seat, and after the last session ask for an individual meeting, which hands a booking code to
the booking pages at once."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, reverse
from django.views.decorators.http import require_http_methods, require_POST

from collective.permissions import can_run_action, get_action_for_user
from outreach import webinars
from outreach.booking import reachable_by
from outreach.links import mask_email, mask_phone, mobile_of
from outreach.views_public import IDENTIFIED, _identified, _invalid, public
from pdp import access_codes
from pdp.audit import audit_listed
from pdp.models import AccessCode

NBSP = "\u00a0"


# --- Staff: inviting ---------------------------------------------------------------------


def _action_url(action):
    """The action's page, once the actions pages exist (else the list of actions, else
    nothing)."""
    for name, args in (("collective:action_detail", [action.pk]), ("collective:action_list", [])):
        try:
            return reverse(name, args=args)
        except NoReverseMatch:
            continue
    return None


def _recipient(assure, channel):
    if channel == "sms":
        return f"SMS au {mask_phone(mobile_of(assure))}"
    if channel == "email":
        return f"e-mail à {mask_email(assure.email.strip())}"
    return ""


def _rows(people):
    rows = []
    for assure in people:
        channel = reachable_by(assure)
        registered = bool(assure.participant_class) and assure.participant_class != "negative"
        rows.append(
            {
                "assure": assure,
                "follow_up": "Accompagnement" if assure.in_case else "Signalement",
                "recipient": _recipient(assure, channel),
                "invited_at": assure.invited_at,
                "registration": assure.participant_status if registered else "",
                "can_invite": channel is not None and not registered,
            }
        )
    return rows


def _sent_message(result):
    parts = []
    if result.sent:
        by = []
        if result.sms:
            by.append(f"{result.sms} par SMS")
        if result.email:
            by.append(f"{result.email} par e-mail")
        noun = "invitation envoyée" if result.sent == 1 else "invitations envoyées"
        parts.append(f"{result.sent} {noun} ({', '.join(by)}).")
    if result.deferred:
        parts.append(
            f"{result.deferred} SMS partiront à 8{NBSP}h (pas de SMS la nuit, le dimanche ni les "
            "jours fériés)."
        )
    if result.already_in:
        parts.append(f"Déjà inscrites, non invitées{NBSP}: {', '.join(result.already_in)}.")
    if result.unreachable:
        parts.append(f"Sans mobile ni e-mail, non invitées{NBSP}: {', '.join(result.unreachable)}.")
    return " ".join(parts) or "Aucune invitation envoyée."


@require_http_methods(["GET", "HEAD", "POST"])
def invite(request, pk):
    action = get_action_for_user(request.user, pk, can_run_action)
    seances = webinars.seances_of(action)
    refusal = webinars.invitation_refusal(action, seances)
    error = None
    status = 200
    if request.method == "POST" and refusal is None:
        try:
            ids = [int(value) for value in request.POST.getlist("assure")]
        except ValueError:
            ids = None
        try:
            if ids is None:
                raise ValidationError("La liste des personnes cochées est illisible.")
            result = webinars.webinar_invite(
                action=action, assure_ids=ids, acting_user=request.user
            )
        except ValidationError as exc:
            error, status = exc.messages[0], 400
        else:
            messages.success(request, _sent_message(result))
            return redirect("outreach:webinar_invite", pk=action.pk)
    elif request.method == "POST":
        error, status = refusal, 400
    people = list(webinars.invitees(request.user, action)) if refusal is None else []
    audit_listed(
        user=request.user,
        objects=people,
        assure_id_of=lambda assure: assure.pk,
        page="invitations à une action collective",
    )
    return render(
        request,
        "outreach/webinar_invite.html",
        {
            "action": action,
            "noun": webinars.kind_noun(action)[1],
            "sessions": [webinars.page_when(s.debut) for s in seances],
            "expiry": (
                webinars.page_when(webinars.invitation_expiry(action, seances)) if seances else ""
            ),
            "refusal": refusal,
            "error": error,
            "rows": _rows(people),
            "no_unit": request.user.unit_id is None,
            "action_url": _action_url(action),
            "checked": set(request.POST.getlist("assure")) if error else set(),
        },
        status=status,
    )


# --- Public: the person's registration ---------------------------------------------------


def _state(request):
    row = _identified(request, AccessCode.Purpose.WEBINAR)
    state = webinars.public_state(row) if row is not None else None
    return row, state


def _page(request, state, *, error=None, status=200):
    return render(
        request, "outreach/webinar_page.html", {"state": state, "error": error}, status=status
    )


def _sent(message):
    if message is None:
        return ""
    if message.channel == "email":
        return " Vous allez recevoir un e-mail qui le confirme."
    if message.send_after is not None:
        return f" Vous recevrez un SMS qui le confirme le {webinars.page_when(message.send_after)}."
    return " Vous allez recevoir un SMS qui le confirme."


@public
@require_http_methods(["GET", "HEAD"])
def webinar_page(request):
    _row, state = _state(request)
    if state is None:
        return _invalid()
    return _page(request, state)


@public
@require_POST
def webinar_register(request):
    row, state = _state(request)
    if state is None:
        return _invalid()
    try:
        result = webinars.webinar_register(code_row=row)
    except ValidationError as exc:
        return _page(request, state, error=exc.messages[0], status=400)
    # The page then says where the person stands (registered, waitlist): only the message.
    if result.message is not None:
        messages.success(request, _sent(result.message).strip())
    return redirect("outreach:webinar")


@public
@require_POST
def webinar_cancel(request):
    row, state = _state(request)
    if state is None:
        return _invalid()
    try:
        cancelled = webinars.webinar_cancel(code_row=row)
    except ValidationError as exc:  # the webinar is over or cancelled
        return _page(request, state, error=exc.messages[0], status=400)
    if cancelled is None:
        return _page(request, state, error="Vous n'êtes pas inscrit·e.", status=400)
    messages.success(request, "Votre inscription est annulée.")
    return redirect("outreach:webinar")


@public
@require_POST
def webinar_confirm(request):
    row, state = _state(request)
    if state is None:
        return _invalid()
    try:
        result = webinars.webinar_confirm(code_row=row)
    except ValidationError as exc:
        return _page(request, state, error=exc.messages[0], status=400)
    messages.success(request, "Votre place est confirmée." + _sent(result.message))
    return redirect("outreach:webinar")


@public
@require_POST
def webinar_request(request):
    row, state = _state(request)
    if state is None:
        return _invalid()
    try:
        result = webinars.webinar_request_meeting(code_row=row)
    except ValidationError as exc:
        return _page(request, state, error=exc.messages[0], status=400)
    access_codes.session_forget(request)
    request.session.pop(IDENTIFIED, None)
    if result.booking_row is not None:
        # The person is identified: the booking code opens the slots at once (the same code
        # was sent to them, to come back later).
        access_codes.code_to_session(request, result.booking_row)
        request.session[IDENTIFIED] = result.booking_row.pk
    return render(
        request,
        "outreach/webinar_requested.html",
        {
            "booking": result.booking_row is not None,
            "sent": result.message,
            "unit": result.unit,
        },
    )


urlpatterns = [
    path("actions-collectives/<int:pk>/invitations/", invite, name="webinar_invite"),
    path("webinaire/", webinar_page, name="webinar"),
    path("webinaire/inscription/", webinar_register, name="webinar_register"),
    path("webinaire/annulation/", webinar_cancel, name="webinar_cancel"),
    path("webinaire/confirmation/", webinar_confirm, name="webinar_confirm"),
    path("webinaire/rendez-vous/", webinar_request, name="webinar_request"),
]
