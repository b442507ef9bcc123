"""Campaign sending pages (issue 12; services in `outreach.campaign_sending`): launch, send the
invitations still waiting, close. POST only, the campaign's managers only (another region's
campaign → 404, the other staff → 403)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from outreach import campaign_sending, campaigns
from outreach.views_campaigns import _campagne

NBSP = "\u00a0"


def _section(campagne):
    return reverse("outreach:campaign_detail", args=[campagne.pk]) + "#envoi"


def _plural(n, word):
    return f"{n}{NBSP}{word}{'s' if n > 1 else ''}"


@login_required
@require_POST
def campaign_launch(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    try:
        campaign_sending.campagne_launch(campagne=campagne, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Campagne lancée{NBSP}: les SMS, e-mails et invitations aux webinaires partent."
            " Préparez les courriers et ouvrez les listes d'appels aux conseillers.",
        )
    return redirect(_section(campagne))


@login_required
@require_POST
def campaign_send_pending(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    sent = campaign_sending.invitations_send(campagne_id=campagne.pk, acting_user=request.user)
    if sent.total:
        messages.success(
            request, f"{_plural(sent.total, 'invitation')} envoyée{'s' if sent.total > 1 else ''}."
        )
    else:
        messages.info(request, "Aucune invitation en attente d'envoi.")
    if sent.sans_contact:
        messages.warning(
            request,
            f"{_plural(sent.sans_contact, 'personne')} sans coordonnée utilisable, écartée"
            f"{'s' if sent.sans_contact > 1 else ''}.",
        )
    return redirect(_section(campagne))


@login_required
@require_POST
def campaign_close(request, pk):
    campagne = _campagne(request, pk, campaigns.can_manage)
    try:
        campaign_sending.campagne_close(campagne=campagne, acting_user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, f"Campagne close{NBSP}: les invitations encore ouvertes expirent."
        )
    return redirect(_section(campagne))


urlpatterns = [
    path("campagnes/<int:pk>/lancer/", campaign_launch, name="campaign_launch"),
    path("campagnes/<int:pk>/envoyer/", campaign_send_pending, name="campaign_send_pending"),
    path("campagnes/<int:pk>/clore/", campaign_close, name="campaign_close"),
]
