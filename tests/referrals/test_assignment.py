"""Assigning a referral: who is eligible (one rule for the form and the service), and where a
manager may send it (within their unit, or from the regional queue to a unit of their region)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from pdp.models import AuditLog
from referrals import services
from referrals.forms import AssignForm
from referrals.models import SignalementEvent, Statut
from referrals.routing import eligible_assignees
from tests.factories import (
    RegionFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

S = Statut


@pytest.fixture
def referral(unit, ass):
    return SignalementFactory(unit=unit, assigned_to=ass, statut=S.A_CONTACTER)


@pytest.fixture
def inactive(unit):
    return UserFactory(ass=True, unit=unit, is_active=False)


@pytest.fixture
def bretagne_unit(db):
    return UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))


def _choice_values(choices):
    values = []
    for value, label in choices:
        if isinstance(label, list | tuple):  # an optgroup
            values += [v for v, _ in label]
        else:
            values.append(value)
    return values


# --- Eligibility -------------------------------------------------------------------------------


def test_the_eligible_people_are_the_active_ass_and_conseillers_of_the_unit(
    unit, ass, colleague, conseiller, manager, inactive, outsider
):
    assert set(eligible_assignees(unit)) == {ass, colleague, conseiller}
    assert set(eligible_assignees([unit, outsider.unit])) == {ass, colleague, conseiller, outsider}


def test_the_form_lists_only_the_eligible_people_of_the_unit_labelled_by_role(
    referral, manager, ass, conseiller, inactive, outsider
):
    form = AssignForm(user=manager, signalement=referral)
    choices = form.fields["assigned_to"].choices
    assert choices[0] == ("", "Non attribué")
    labels = dict(choices[1:])
    assert set(labels) == {ass.pk, conseiller.pk}
    assert labels[conseiller.pk] == f"{conseiller.get_full_name()} (conseiller)"
    assert labels[ass.pk] == f"{ass.get_full_name()} (ASS)"
    # Another unit of the region may receive it (unassigned); no unit of another region.
    assert set(form.fields["unit"].queryset) == {referral.unit, outsider.unit}


def test_for_a_queued_referral_the_form_offers_the_units_of_the_region_only(
    manager, ass, outsider, bretagne_unit
):
    UserFactory(ass=True, unit=bretagne_unit)
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    form = AssignForm(user=manager, signalement=queued)
    assert set(form.fields["unit"].queryset) == {manager.unit, outsider.unit}
    groups = dict(form.fields["assigned_to"].choices[1:])
    assert set(groups) == {str(manager.unit), str(outsider.unit)}  # one group per unit
    assert set(_choice_values(form.fields["assigned_to"].choices[1:])) == {ass.pk, outsider.pk}


@pytest.mark.parametrize("who", ["outsider", "inactive", "manager", "regional"])
def test_the_service_refuses_anyone_but_an_eligible_person_of_the_unit(
    referral, manager, who, request
):
    person = request.getfixturevalue(who)
    with pytest.raises(ValidationError) as exc:
        services.signalement_assign(
            signalement=referral, acting_user=manager, unit=referral.unit, assigned_to=person
        )
    assert "ne peut pas recevoir ce signalement" in exc.value.message_dict["assigned_to"][0]
    referral.refresh_from_db()
    assert referral.assigned_to_id != person.pk
    assert not SignalementEvent.objects.filter(signalement=referral, kind="assigned").exists()


def test_a_manager_gives_a_referral_to_a_conseiller_for_the_first_contact(
    referral, manager, conseiller
):
    services.signalement_assign(
        signalement=referral,
        acting_user=manager,
        unit=referral.unit,
        assigned_to=conseiller,
        reason="Premier appel",
    )
    referral.refresh_from_db()
    assert referral.assigned_to == conseiller
    event = SignalementEvent.objects.get(signalement=referral, kind="assigned")
    assert (event.actor, event.reason) == (manager, "Premier appel")
    assert AuditLog.objects.filter(
        object_type="referrals.signalement", object_id=str(referral.pk), action="update"
    ).exists()


def test_a_manager_sends_a_misrouted_referral_to_another_unit_unassigned(
    referral, manager, outsider
):
    with pytest.raises(ValidationError) as exc:
        services.signalement_assign(
            signalement=referral, acting_user=manager, unit=outsider.unit, assigned_to=outsider
        )
    assert "laissez « Non attribué »" in exc.value.message_dict["assigned_to"][0]
    referral.refresh_from_db()
    assert referral.unit_id != outsider.unit_id
    services.signalement_assign(
        signalement=referral, acting_user=manager, unit=outsider.unit, reason="Habite Caen"
    )
    referral.refresh_from_db()
    assert (referral.unit_id, referral.assigned_to_id) == (outsider.unit_id, None)
    event = SignalementEvent.objects.get(signalement=referral, kind="assigned")
    assert event.reason == "Habite Caen"


def test_a_manager_cannot_send_a_queued_referral_to_another_region(manager, bretagne_unit):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    stranger = UserFactory(ass=True, unit=bretagne_unit)
    with pytest.raises(ValidationError) as exc:
        services.signalement_assign(
            signalement=queued, acting_user=manager, unit=bretagne_unit, assigned_to=stranger
        )
    assert "unité de votre région" in exc.value.message_dict["unit"][0]
    queued.refresh_from_db()
    assert queued.unit is None


def test_a_manager_cannot_move_a_referral_of_another_unit(manager, outsider):
    elsewhere = SignalementFactory(unit=outsider.unit, assigned_to=outsider)
    with pytest.raises(ValidationError) as exc:
        services.signalement_assign(
            signalement=elsewhere, acting_user=manager, unit=manager.unit, assigned_to=None
        )
    assert "unit" in exc.value.message_dict
    elsewhere.refresh_from_db()
    assert elsewhere.unit == outsider.unit


def test_only_a_manager_assigns(referral, ass, colleague):
    with pytest.raises(ValidationError, match="responsable d'unité"):
        services.signalement_assign(
            signalement=referral, acting_user=ass, unit=referral.unit, assigned_to=colleague
        )


# --- The page --------------------------------------------------------------------------------


def _assign_url(referral):
    return reverse("referrals:signalement_assign", args=[referral.pk])


def test_the_manager_assigns_to_a_conseiller_on_the_referral_page(
    client, manager, conseiller, referral
):
    client.force_login(manager)
    page = client.get(reverse("referrals:signalement_detail", args=[referral.pk]))
    assert f"{conseiller.get_full_name()} (conseiller)" in page.content.decode()
    response = client.post(
        _assign_url(referral),
        {"attribution-unit": referral.unit_id, "attribution-assigned_to": conseiller.pk},
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.assigned_to == conseiller
    assert SignalementEvent.objects.filter(signalement=referral, kind="assigned").exists()


@pytest.mark.parametrize("who", ["outsider", "inactive"])
def test_the_page_refuses_a_person_who_is_not_eligible(client, manager, referral, who, request):
    person = request.getfixturevalue(who)
    client.force_login(manager)
    response = client.post(
        _assign_url(referral),
        {"attribution-unit": referral.unit_id, "attribution-assigned_to": person.pk},
    )
    assert response.status_code == 200
    assert response.context["assign_form"].errors["assigned_to"]
    referral.refresh_from_db()
    assert referral.assigned_to_id != person.pk


def test_the_page_lists_only_the_managers_unit_people_for_a_referral_of_the_unit(
    client, manager, referral, outsider, conseiller
):
    client.force_login(manager)
    form = client.get(reverse("referrals:signalement_detail", args=[referral.pk])).context[
        "assign_form"
    ]
    people = {pk for pk, _ in form.fields["assigned_to"].choices if pk}
    assert conseiller.pk in people and outsider.pk not in people
    assert outsider.unit in form.fields["unit"].queryset
    response = client.post(
        _assign_url(referral),
        {"attribution-unit": outsider.unit_id, "attribution-assigned_to": outsider.pk},
    )
    assert response.status_code == 200
    assert response.context["assign_form"].errors["assigned_to"]
    referral.refresh_from_db()
    assert referral.unit_id != outsider.unit_id


def test_the_page_refuses_a_unit_of_another_region_for_a_queued_referral(
    client, manager, bretagne_unit
):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    client.force_login(manager)
    response = client.post(_assign_url(queued), {"attribution-unit": bretagne_unit.pk})
    assert response.status_code == 200
    assert response.context["assign_form"].errors["unit"]
    queued.refresh_from_db()
    assert queued.unit is None


def test_a_manager_of_another_region_gets_404_on_the_queue(client, bretagne_unit):
    queued = SignalementFactory(unit=None, statut=S.NOUVEAU)
    stranger = UserFactory(manager=True, unit=bretagne_unit)
    client.force_login(stranger)
    assert client.post(_assign_url(queued), {"attribution-unit": bretagne_unit.pk}).status_code == (
        404
    )
    queued.refresh_from_db()
    assert queued.unit is None


# --- The manager's inbox: who has what, conseillers included --------------------------------


def test_the_inbox_filters_on_a_conseiller_and_labels_people_by_role(
    client, manager, ass, conseiller, outsider
):
    theirs = SignalementFactory(unit=manager.unit, assigned_to=conseiller)
    SignalementFactory(unit=manager.unit, assigned_to=ass)
    client.force_login(manager)
    inbox = reverse("referrals:inbox")
    response = client.get(inbox)
    field = response.context["filter"].form.fields["assigned_to"]
    assert field.label == "Attribué à"
    labels = {value: label for value, label in field.choices if value}
    assert labels[conseiller.pk] == f"{conseiller.get_full_name()} (conseiller)"
    assert outsider.pk not in labels
    response = client.get(inbox, {"assigned_to": conseiller.pk})
    assert list(response.context["page_obj"]) == [theirs]
    assert "(conseiller)" in response.content.decode()
