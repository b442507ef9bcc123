"""E-mails to members: sent once the agenda is fixed and when an action is given; a link and
practical details, never anything of a situation; each sent once, whatever the retries."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from coordination import notifications, services
from coordination.models import ActionInstance, Presence
from tests.coordination.conftest import FICHE
from tests.coordination.test_services import _plan, _submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def meeting(case, instance, ass, consent, coordinateur, membres):
    saisine = _submit(case, instance, ass)
    return _plan(instance, coordinateur), saisine


def _situation_words(saisine):
    assure = saisine.accompagnement.assure
    return [
        FICHE["initiales"],
        FICHE["limitations"],
        FICHE["poste"],
        saisine.question,
        assure.nom_naissance,
        assure.prenoms,
        assure.nir,
    ]


def test_freezing_the_agenda_sends_each_member_a_link_and_no_case_content(
    meeting, coordinateur, membres, django_capture_on_commit_callbacks
):
    reunion, saisine = meeting
    with django_capture_on_commit_callbacks(execute=True):
        services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    recipients = {m.email for m in membres if m.email}
    assert {message.to[0] for message in mail.outbox} == recipients
    for message in mail.outbox:
        assert f"/cellule/reunions/{reunion.pk}/" in message.body
        for word in _situation_words(saisine):
            assert word not in message.body and word not in message.subject
    assert not reunion.presences.filter(
        convoque_le__isnull=True, membre__user__email__gt=""
    ).exists()


def test_convocations_are_sent_once(meeting, coordinateur, django_capture_on_commit_callbacks):
    reunion, _ = meeting
    with django_capture_on_commit_callbacks(execute=True):
        services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    sent = len(mail.outbox)
    assert sent > 0
    assert notifications.convocations_send(reunion_id=reunion.pk) == 0
    assert len(mail.outbox) == sent


def test_a_member_without_account_gets_no_link(meeting, instance, coordinateur):
    reunion, _ = meeting
    from tests.factories import MembreFactory, PartnerContactFactory

    contact = PartnerContactFactory(email="mdph@example.org")
    membre = MembreFactory(instance=instance, user=None, contact=contact, organisation="mdph")
    Presence.objects.create(reunion=reunion, membre=membre)
    notifications.convocations_send(reunion_id=reunion.pk)
    body = next(m.body for m in mail.outbox if m.to == ["mdph@example.org"])
    assert "/cellule/" not in body
    assert "présentés en réunion" in body


def test_an_action_notice_names_no_situation(
    meeting, coordinateur, membre_partenaire, django_capture_on_commit_callbacks
):
    reunion, saisine = meeting
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        action = services.action_add(
            point=reunion.points.get(),
            acting_user=coordinateur,
            libelle="Étude de poste chez l'employeur",
            responsable=membre_partenaire,
            echeance=timezone.localdate() + datetime.timedelta(days=15),
        )
    (message,) = mail.outbox
    assert message.to == [membre_partenaire.email]
    assert "/cellule/mes-actions/" in message.body
    assert "Étude de poste" not in message.body
    for word in _situation_words(saisine):
        assert word not in message.body
    assert ActionInstance.objects.get(pk=action.pk).notifiee_le is not None
    assert notifications.action_notice_send(action_id=action.pk) == 0
