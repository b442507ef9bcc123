"""E-mails to the members of an instance. They carry a link and practical details (instance,
date, place), never anything of a situation: no initials, no question, no action wording —
the member reads those in the application, where the consent gate and the access log apply."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone

from coordination.models import ActionInstance, Presence, Reunion

log = logging.getLogger(__name__)


def _link(url_name, *args):
    return settings.SITE_URL + reverse(url_name, args=args)


def _claim(model, pk, field):
    """Claim one e-mail: 1 if this worker is the one to send it."""
    return model.objects.filter(pk=pk, **{f"{field}__isnull": True}).update(
        **{field: timezone.now()}
    )


def convocation_text(reunion, has_account):
    debut = timezone.localtime(reunion.debut)
    lines = [
        "Bonjour,",
        "",
        f"L'ordre du jour de la réunion « {reunion.instance} » du {debut:%d/%m/%Y} à"
        f" {debut:%H:%M} est arrêté.",
    ]
    if reunion.lieu:
        lines.append(f"Lieu : {reunion.lieu}")
    if reunion.lien_visio:
        lines.append(f"Visioconférence : {reunion.lien_visio}")
    lines.append("")
    if has_account:
        lines.append(
            "L'ordre du jour et les fiches de présentation sont à consulter dans PDP : "
            + _link("coordination:reunion_detail", reunion.pk)
        )
    else:
        lines.append("Les documents de séance vous seront présentés en réunion.")
    lines += [
        "",
        "Ce message ne contient aucune information sur les situations présentées.",
        "",
        "La coordination de la cellule PDP",
    ]
    return "\n".join(lines)


def convocations_send(*, reunion_id):
    reunion = Reunion.objects.select_related("instance").get(pk=reunion_id)
    subject = (
        f"Cellule PDP : ordre du jour de la réunion du {timezone.localtime(reunion.debut):%d/%m/%Y}"
    )
    presences = reunion.presences.filter(convoque_le__isnull=True).select_related(
        "membre__user", "membre__contact"
    )
    sent = 0
    for presence in presences:
        address = presence.membre.email
        if not address or not _claim(Presence, presence.pk, "convoque_le"):
            continue
        has_account = presence.membre.user_id is not None
        send_mail(subject, convocation_text(reunion, has_account), None, [address])
        sent += 1
    log.info("Convocations of meeting %s: %s sent", reunion_id, sent)
    return sent


def action_notice_text(action):
    reunion = action.point.reunion
    lines = [
        "Bonjour,",
        "",
        f"Une action vous a été confiée lors de la réunion « {reunion.instance} » du"
        f" {timezone.localtime(reunion.debut):%d/%m/%Y}, à échéance du {action.echeance:%d/%m/%Y}.",
        "",
    ]
    if action.responsable.user_id:
        lines.append(
            "Retrouvez-la et rendez-en compte dans PDP : " + _link("coordination:mes_actions")
        )
    else:
        lines.append("La coordination de la cellule vous en précisera le contenu.")
    lines += ["", "La coordination de la cellule PDP"]
    return "\n".join(lines)


def action_notice_send(*, action_id):
    action = ActionInstance.objects.select_related(
        "point__reunion__instance", "responsable__user", "responsable__contact"
    ).get(pk=action_id)
    address = action.responsable.email
    if not address or not _claim(ActionInstance, action.pk, "notifiee_le"):
        return 0
    send_mail(
        "Cellule PDP : une action vous est confiée", action_notice_text(action), None, [address]
    )
    return 1
