"""Seats of a collective action: taken with a conditional update, the waitlist, promotion,
confirmation and expiry (collective.participants)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from collective import participants as p
from collective.models import ActionCollective, ParticipantSource
from tests.factories import ActionCollectiveFactory, AssureFactory

pytestmark = pytest.mark.django_db


def register(action, assure=None):
    return p.participant_register(
        action=action, assure=assure or AssureFactory(), source=ParticipantSource.CODE
    )


def test_the_seats_then_the_waitlist_then_promotion_on_cancel():
    action = ActionCollectiveFactory(capacite=2)
    first, second, third = register(action), register(action), register(action)
    assert [x.statut.code for x in (first, second, third)] == [
        p.INSCRIT,
        p.INSCRIT,
        p.LISTE_ATTENTE,
    ]
    action.refresh_from_db()
    assert action.places_prises == 2
    p.participant_cancel(participant=first)
    third.refresh_from_db()
    assert third.statut.code == p.A_CONFIRMER and third.confirmer_avant is not None
    action.refresh_from_db()
    assert action.places_prises == 2  # the freed seat is held for the promoted person
    p.participant_confirm(participant=third)
    third.refresh_from_db()
    assert third.statut.code == p.INSCRIT


def test_an_unconfirmed_seat_expires_and_goes_to_the_next():
    action = ActionCollectiveFactory(capacite=1)
    first, second, third = register(action), register(action), register(action)
    p.participant_cancel(participant=first)
    second.refresh_from_db()
    assert second.statut.code == p.A_CONFIRMER
    later = timezone.now() + datetime.timedelta(hours=action.delai_confirmation_heures + 1)
    assert p.participants_expire(now=later) == 1
    assert p.participants_expire(now=later) == 0  # run twice: nothing more
    second.refresh_from_db()
    third.refresh_from_db()
    assert (second.statut.code, third.statut.code) == (p.EXPIRE, p.A_CONFIRMER)
    with pytest.raises(ValidationError):
        p.participant_confirm(participant=second, now=later)


def test_full_without_waitlist_is_refused_and_the_database_holds_the_capacity():
    action = ActionCollectiveFactory(capacite=1, liste_attente=False)
    register(action)
    with pytest.raises(ValidationError) as refused:
        register(action)
    assert refused.value.messages == [p.FULL]
    with pytest.raises(IntegrityError), transaction.atomic():
        ActionCollective.objects.filter(pk=action.pk).update(places_prises=2)


def test_registering_twice_changes_nothing():
    action = ActionCollectiveFactory(capacite=5)
    person = AssureFactory()
    assert register(action, person) == register(action, person)
    action.refresh_from_db()
    assert action.places_prises == 1


def test_the_list_of_a_finished_action_is_closed():
    action = ActionCollectiveFactory(capacite=2)
    first = register(action)
    ActionCollective.objects.filter(pk=action.pk).update(statut="terminee")
    with pytest.raises(ValidationError) as refused:
        p.participant_cancel(participant=first)
    assert "liste de participants est close" in refused.value.messages[0]
    first.refresh_from_db()
    assert first.statut.code == p.INSCRIT
