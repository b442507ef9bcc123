"""The conseiller's first contact: attempts, then the hand-over to an ASS with the proposed
first meeting; what the ASS then sees, and the meeting becoming an entretien of the case."""

import datetime
import zoneinfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases import services as case_services
from cases.agenda import entretien_schedule
from cases.models import Accompagnement, CaseEvent, Entretien
from pdp.models import AuditLog
from referrals import services
from referrals.models import ContactAttempt, Signalement, SignalementEvent, Statut
from tests.factories import AccompagnementFactory, EntretienFactory, SignalementFactory, UserFactory

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
NOW = datetime.datetime(2026, 3, 10, 9, 0, tzinfo=PARIS)  # a Tuesday
TODAY = NOW.date()
S = Statut


def at(days, hour, minute=0):
    day = TODAY + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def _attempt(referral, user, resultat="joint"):
    return services.contact_attempt_add(
        signalement=referral,
        acting_user=user,
        canal="telephone",
        resultat=resultat,
        at=NOW - datetime.timedelta(minutes=10),
    )


@pytest.fixture
def referral(unit, conseiller):
    """Given to the conseiller for the first contact, not called yet."""
    return SignalementFactory(
        unit=unit, assigned_to=conseiller, statut=S.A_CONTACTER, date_echeance=TODAY
    )


@pytest.fixture
def reached(referral, conseiller):
    _attempt(referral, conseiller)
    referral.refresh_from_db()
    assert referral.statut == S.CONTACT_EN_COURS
    return referral


def _hand_over(referral, conseiller, ass, debut=None, **extra):
    return services.signalement_hand_over(
        signalement=referral,
        acting_user=conseiller,
        ass=ass,
        debut=debut or at(2, 10),
        mode=extra.pop("mode", "sur_place"),
        duree_minutes=extra.pop("duree_minutes", 60),
    )


# --- The service ---------------------------------------------------------------------------


def test_the_hand_over_books_the_meeting_and_gives_the_referral_to_the_ass(
    reached, conseiller, ass
):
    _hand_over(reached, conseiller, ass, mode="telephone", duree_minutes=45)
    row = Signalement.objects.get(pk=reached.pk)
    assert row.statut == S.RENCONTRE_PROPOSEE
    assert row.assigned_to == ass
    assert (row.rdv_debut, row.rdv_duree_minutes, row.rdv_mode) == (at(2, 10), 45, "telephone")
    assert (row.rdv_ass, row.rdv_par) == (ass, conseiller)
    assigned = SignalementEvent.objects.get(signalement=reached, kind="assigned")
    assert assigned.actor == conseiller
    assert assigned.reason.startswith("Passage de relais après premier contact")
    assert "12/03/2026 à 10:00" in assigned.reason
    assert str(ass) in assigned.new_value
    status = SignalementEvent.objects.get(
        signalement=reached, kind="status", new_value=S.RENCONTRE_PROPOSEE
    )
    assert status.actor == conseiller
    entry = AuditLog.objects.filter(
        object_type="referrals.signalement", object_id=str(reached.pk), changes__has_key="rdv_ass"
    ).get()
    assert entry.changes["rdv_ass"] == ass.pk


def test_the_hand_over_needs_the_person_reached(referral, conseiller, ass):
    with pytest.raises(ValidationError, match="une fois la personne jointe"):
        _hand_over(referral, conseiller, ass)  # nobody called yet
    _attempt(referral, conseiller, resultat="pas_de_reponse")
    with pytest.raises(ValidationError, match="une fois la personne jointe"):
        _hand_over(referral, conseiller, ass)  # called, not reached
    referral.refresh_from_db()
    assert (referral.assigned_to, referral.rdv_debut) == (conseiller, None)


@pytest.mark.parametrize("who", ["outsider", "conseiller", "manager", "inactive"])
def test_the_meeting_is_with_an_active_ass_of_the_unit(reached, conseiller, who, request, unit):
    person = (
        UserFactory(ass=True, unit=unit, is_active=False)
        if who == "inactive"
        else request.getfixturevalue(who)
    )
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, person)
    assert "ass" in exc.value.message_dict
    reached.refresh_from_db()
    assert (reached.assigned_to, reached.rdv_debut) == (conseiller, None)


def test_the_meeting_is_in_the_future_and_of_a_sensible_length(reached, conseiller, ass):
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, ass, debut=at(0, 8))
    assert "debut" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, ass, duree_minutes=600)
    assert "duree_minutes" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, ass, mode="pigeon")
    assert "mode" in exc.value.message_dict


def test_the_meeting_may_not_overlap_a_planned_entretien_of_the_ass(reached, conseiller, ass):
    case = AccompagnementFactory(referent=ass)
    EntretienFactory(accompagnement=case, debut=at(2, 10), duree_minutes=60)
    EntretienFactory(accompagnement=case, debut=at(2, 14), statut="annule")
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, ass, debut=at(2, 10, 30))
    assert "a déjà un entretien le 12/03/2026 à 10:00" in exc.value.message_dict["debut"][0]
    reached.refresh_from_db()
    assert reached.rdv_debut is None
    _hand_over(reached, conseiller, ass, debut=at(2, 14))  # a cancelled one frees the slot
    reached.refresh_from_db()
    assert reached.rdv_debut == at(2, 14)


def test_the_meeting_may_not_overlap_another_first_meeting_proposed_to_the_ass(
    reached, conseiller, ass, unit
):
    other = SignalementFactory(unit=unit, assigned_to=conseiller, statut=S.A_CONTACTER)
    _attempt(other, conseiller)
    _hand_over(other, conseiller, ass, debut=at(2, 10))
    with pytest.raises(ValidationError) as exc:
        _hand_over(reached, conseiller, ass, debut=at(2, 9, 30))
    assert "premier rendez-vous proposé le 12/03/2026 à 10:00" in exc.value.messages[0]
    _hand_over(reached, conseiller, ass, debut=at(2, 11))  # right after it: fine
    reached.refresh_from_db()
    assert reached.rdv_debut == at(2, 11)


def test_a_proposal_on_a_closed_referral_no_longer_holds_the_slot(reached, conseiller, ass, unit):
    other = SignalementFactory(unit=unit, assigned_to=conseiller, statut=S.A_CONTACTER)
    _attempt(other, conseiller)
    _hand_over(other, conseiller, ass, debut=at(2, 10))
    other.refresh_from_db()
    services.signalement_transition(
        signalement=other, to_status=S.REFUS, acting_user=ass, reason="Ne souhaite plus"
    )
    _hand_over(reached, conseiller, ass, debut=at(2, 10))
    reached.refresh_from_db()
    assert reached.rdv_debut == at(2, 10)


def test_an_entretien_may_not_be_planned_over_a_proposed_first_meeting(reached, conseiller, ass):
    _hand_over(reached, conseiller, ass, debut=at(2, 10))
    case = AccompagnementFactory(referent=ass)
    with pytest.raises(ValidationError) as exc:
        entretien_schedule(
            accompagnement=case, acting_user=ass, debut=at(2, 10, 30), mode="telephone"
        )
    assert "premier rendez-vous proposé le 12/03/2026 à 10:00" in exc.value.message_dict["debut"][0]
    assert not Entretien.objects.filter(accompagnement=case).exists()


def test_opening_the_case_plans_the_proposed_meeting_as_an_entretien(reached, conseiller, ass):
    _hand_over(reached, conseiller, ass, debut=at(2, 10), mode="domicile", duree_minutes=90)
    reached.refresh_from_db()
    case = case_services.case_open_from_signalement(
        signalement=reached, acting_user=ass, referent=ass
    )
    entretien = Entretien.objects.get(accompagnement=case)
    assert (entretien.debut, entretien.duree_minutes, entretien.mode) == (at(2, 10), 90, "domicile")
    assert (entretien.ass, entretien.statut) == (ass, "planifie")
    assert CaseEvent.objects.filter(accompagnement=case, kind="entretien").exists()


def test_a_proposed_meeting_already_past_is_not_planned_at_opening(reached, conseiller, ass):
    _hand_over(reached, conseiller, ass, debut=at(2, 10))
    reached.refresh_from_db()
    with time_machine.travel(at(2, 11), tick=False):
        case = case_services.case_open_from_signalement(
            signalement=reached, acting_user=ass, referent=ass
        )
    assert Accompagnement.objects.get() == case
    assert not Entretien.objects.exists()


# --- The referral page -----------------------------------------------------------------------


def _detail(referral):
    return reverse("referrals:signalement_detail", args=[referral.pk])


def _hand_over_url(referral):
    return reverse("referrals:signalement_hand_over", args=[referral.pk])


def _text(response):
    """The page's text with its white space collapsed, as a browser shows it."""
    return " ".join(response.content.decode().split())


def _login_url(url):
    return f"{reverse('login')}?next={url}"


def _form(ass, day="2026-03-12", time="10:00", **extra):
    data = {
        "relais-ass": ass.pk,
        "relais-date": day,
        "relais-heure": time,
        "relais-duree_minutes": 60,
        "relais-mode": "sur_place",
    }
    data.update({f"relais-{k}": v for k, v in extra.items()})
    return data


def test_the_conseiller_records_contact_attempts_on_their_referral(client, conseiller, referral):
    client.force_login(conseiller)
    response = client.post(
        reverse("referrals:signalement_contact_add", args=[referral.pk]),
        {
            "contact-at": "2026-03-10T08:30",
            "contact-canal": "telephone",
            "contact-resultat": "pas_de_reponse",
        },
    )
    assert response.status_code == 302
    attempt = ContactAttempt.objects.get(signalement=referral)
    assert (attempt.user, attempt.resultat) == (conseiller, "pas_de_reponse")


def test_the_hand_over_form_appears_once_the_person_is_reached(client, conseiller, referral, ass):
    client.force_login(conseiller)
    assert client.get(_detail(referral)).context["handover_form"] is None
    _attempt(referral, conseiller)
    form = client.get(_detail(referral)).context["handover_form"]
    assert list(form.fields["ass"].queryset) == [ass]  # the ASS of the unit only


def test_the_hand_over_needs_login_and_rights(
    client, reached, outsider, colleague, ass, manager, unit
):
    url = _hand_over_url(reached)
    assert client.post(url, _form(ass)).url == _login_url(url)
    client.force_login(outsider)
    assert client.post(url, _form(ass)).status_code == 404
    other_conseiller = UserFactory(conseiller=True, unit=unit)
    for user in (colleague, manager, other_conseiller):  # not a conseiller, or not theirs
        client.force_login(user)
        assert client.post(url, _form(ass)).status_code == 403
    reached.refresh_from_db()
    assert (reached.rdv_debut, reached.statut) == (None, S.CONTACT_EN_COURS)
    assert not SignalementEvent.objects.filter(signalement=reached, kind="assigned").exists()


def test_the_conseiller_hands_over_then_only_reads_the_referral(client, conseiller, reached, ass):
    client.force_login(conseiller)
    response = client.post(_hand_over_url(reached), _form(ass, time="14:30"))
    assert response.status_code == 302
    assert response.url == _detail(reached)
    reached.refresh_from_db()
    assert (reached.assigned_to, reached.statut) == (ass, S.RENCONTRE_PROPOSEE)
    assert reached.rdv_debut == at(2, 14, 30)
    assert SignalementEvent.objects.get(signalement=reached, kind="assigned").actor == conseiller

    page = client.get(_detail(reached))
    assert page.status_code == 200
    for name in ("contact_form", "status_form", "handover_form", "assign_form"):
        assert page.context[name] is None
    text = _text(page)
    assert "Consultation seule" in text
    assert f"Premier rendez-vous proposé le 12/03/2026 à 14:30 par {conseiller}" in text
    assert client.post(_hand_over_url(reached), _form(ass, time="16:00")).status_code == 403


def test_a_refused_hand_over_shows_the_error_next_to_the_date(client, conseiller, reached, ass):
    EntretienFactory(accompagnement=AccompagnementFactory(referent=ass), debut=at(2, 10))
    client.force_login(conseiller)
    response = client.post(_hand_over_url(reached), _form(ass, time="10:15"))
    assert response.status_code == 200
    assert "a déjà un entretien" in response.context["handover_form"].errors["date"][0]
    reached.refresh_from_db()
    assert (reached.assigned_to, reached.rdv_debut) == (conseiller, None)


def test_a_conseiller_cannot_open_the_case(client, conseiller, reached):
    client.force_login(conseiller)
    assert client.get(_detail(reached)).context["can_open"] is False
    url = reverse("cases:signalement_open_case", args=[reached.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"referent": conseiller.pk, "mission": "pdp"}).status_code == 403
    assert not Accompagnement.objects.exists()


def test_a_conseiller_reads_a_referral_of_the_unit_they_do_not_hold(client, conseiller, unit, ass):
    theirs = SignalementFactory(unit=unit, assigned_to=ass, statut=S.A_CONTACTER)
    client.force_login(conseiller)
    page = client.get(_detail(theirs))
    assert page.status_code == 200
    assert page.context["contact_form"] is None
    url = reverse("referrals:signalement_contact_add", args=[theirs.pk])
    data = {"contact-at": "2026-03-10T08:30", "contact-canal": "sms", "contact-resultat": "joint"}
    assert client.post(url, data).status_code == 403
    assert not ContactAttempt.objects.exists()


def test_a_conseiller_of_another_unit_gets_404(client, reached, outsider):
    stranger = UserFactory(conseiller=True, unit=outsider.unit)
    client.force_login(stranger)
    assert client.get(_detail(reached)).status_code == 404


# --- What the ASS sees -------------------------------------------------------------------------


def test_the_ass_sees_the_proposed_meeting_on_her_activity_agenda_and_referral(
    client, conseiller, reached, ass
):
    _hand_over(reached, conseiller, ass, debut=at(2, 10))
    client.force_login(ass)
    expected = f"Premier rendez-vous proposé le 12/03/2026 à 10:00 par {conseiller}"
    dashboard = client.get(reverse("cases:dashboard"))
    assert [s.pk for s in dashboard.context["referrals"]["rows"]] == [reached.pk]
    assert expected in _text(dashboard)
    assert expected in _text(client.get(_detail(reached)))
    agenda = client.get(reverse("cases:agenda"), {"semaine": "2026-W11"})
    thursday = agenda.context["days"][3]
    assert [p.pk for p in thursday["proposals"]] == [reached.pk]
    assert "Premier rendez-vous proposé" in agenda.content.decode()
    # The ASS opens the case from the referral she was handed.
    assert client.get(_detail(reached)).context["can_open"] is True


def test_a_hand_over_before_the_person_is_reached_says_why(client, conseiller, referral, ass):
    client.force_login(conseiller)
    response = client.post(_hand_over_url(referral), _form(ass))
    assert response.status_code == 200
    assert "une fois la personne jointe" in _text(response)
    referral.refresh_from_db()
    assert (referral.assigned_to, referral.rdv_debut) == (conseiller, None)


def test_a_hand_over_with_a_malformed_form_changes_nothing(client, conseiller, reached, ass):
    client.force_login(conseiller)
    response = client.post(_hand_over_url(reached), _form(ass, day="demain", mode="pigeon"))
    assert response.status_code == 200
    errors = response.context["handover_form"].errors
    assert set(errors) == {"date", "mode"}
    reached.refresh_from_db()
    assert reached.rdv_debut is None


def test_a_proposed_meeting_with_an_ass_who_left_is_not_planned(
    reached, conseiller, ass, colleague
):
    _hand_over(reached, conseiller, ass, debut=at(2, 10))
    reached.refresh_from_db()
    ass.is_active = False
    ass.save()
    case = case_services.case_open_from_signalement(
        signalement=reached, acting_user=colleague, referent=colleague
    )
    assert case.referent == colleague
    assert not Entretien.objects.exists()
