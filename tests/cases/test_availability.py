"""Opening ranges, absences, motifs and free slots (issue 10, item 2), and their staff page."""

import datetime
import io
import zoneinfo

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from cases import availability
from cases.availability import free_slots, round_up_5_minutes
from cases.models import Absence, Entretien, Motif, PlageOuverture
from pdp.models import AuditLog
from tests.factories import AccompagnementFactory, EntretienFactory, UserFactory

pytestmark = pytest.mark.django_db

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
UTC = datetime.UTC
ALL_MODES = ["sur_place", "telephone", "visio", "domicile"]


def local(y, m, d, h=0, mi=0):
    return datetime.datetime(y, m, d, h, mi, tzinfo=PARIS)


def plage(ass, weekday, start=(9, 0), end=(12, 0), modes=None, **kwargs):
    kwargs.setdefault("premier_jour", datetime.date(2027, 1, 1))
    return PlageOuverture.objects.create(
        ass=ass,
        weekday=weekday,
        heure_debut=datetime.time(*start),
        heure_fin=datetime.time(*end),
        modes=modes or ALL_MODES,
        **kwargs,
    )


def motif(**kwargs):
    kwargs.setdefault("label", f"Motif {Motif.objects.count()}")
    kwargs.setdefault("duree_minutes", 60)
    kwargs.setdefault("delai_min_heures", 0)
    kwargs.setdefault("delai_max_jours", 365)
    return Motif.objects.create(**kwargs)


def starts(ass, start, end, the_motif, mode=None, now=None):
    found = free_slots(
        ass_ids=[ass.pk],
        start=start,
        end=end,
        motif=the_motif,
        mode=mode,
        now=now or local(2027, 1, 1),
    )
    return [s.astimezone(PARIS).strftime("%Y-%m-%d %H:%M") for s, _ in found[ass.pk]]


def meeting(ass, debut, minutes=60, statut=Entretien.Statut.PLANIFIE):
    case = AccompagnementFactory(referent=ass)
    return EntretienFactory(
        accompagnement=case, ass=ass, debut=debut, duree_minutes=minutes, statut=statut
    )


# --- Free slots -----------------------------------------------------------------------------


def test_the_motifs_of_the_data_migration_exist():
    assert dict(Motif.objects.values_list("label", "duree_minutes")) == {
        "Premier rendez-vous": 60,
        "Rendez-vous de suivi": 45,
    }


def test_a_weekly_range_gives_slots_on_its_weekday_only(ass):
    plage(ass, weekday=0)  # Mondays 09:00–12:00
    week = starts(ass, local(2027, 3, 1), local(2027, 3, 8), motif())
    assert week == ["2027-03-01 09:00", "2027-03-01 10:00", "2027-03-01 11:00"]


def test_slots_are_cut_in_steps_of_the_motif_length_and_fit_in_the_range(ass):
    plage(ass, weekday=0)
    week = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif(duree_minutes=50))
    # 11:30 + 50 minutes would end after 12:00.
    assert week == ["2027-03-01 09:00", "2027-03-01 09:50", "2027-03-01 10:40"]


def test_a_range_applies_from_its_first_day_to_its_last(ass):
    plage(
        ass,
        weekday=0,
        start=(9, 0),
        end=(10, 0),
        premier_jour=datetime.date(2027, 3, 8),
        dernier_jour=datetime.date(2027, 3, 15),
    )
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 30), motif())
    assert found == ["2027-03-08 09:00", "2027-03-15 09:00"]


def test_public_holidays_have_no_slot(ass):
    plage(ass, weekday=2, end=(10, 0))  # Wednesdays: 14 July 2027 is one
    plage(ass, weekday=0, end=(10, 0))  # Mondays: Easter Monday 2027 is 29 March
    july = starts(ass, local(2027, 7, 7), local(2027, 7, 22), motif())
    assert july == ["2027-07-07 09:00", "2027-07-12 09:00", "2027-07-19 09:00", "2027-07-21 09:00"]
    easter = starts(ass, local(2027, 3, 22), local(2027, 4, 6), motif())
    assert easter == [
        "2027-03-22 09:00",
        "2027-03-24 09:00",
        # No Monday 29 March.
        "2027-03-31 09:00",
        "2027-04-05 09:00",
    ]


def test_an_absence_removes_its_slots(ass):
    plage(ass, weekday=0)
    Absence.objects.create(ass=ass, debut=local(2027, 3, 1, 10), fin=local(2027, 3, 1, 11))
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif())
    assert found == ["2027-03-01 09:00", "2027-03-01 11:00"]


def test_an_absence_of_several_days_removes_them_all(ass):
    plage(ass, weekday=0)
    Absence.objects.create(ass=ass, debut=local(2027, 2, 26), fin=local(2027, 3, 13))
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 16), motif())
    assert found[0] == "2027-03-15 09:00"


def test_a_meeting_removes_its_time_and_the_next_slot_starts_after_it(ass):
    plage(ass, weekday=0)
    meeting(ass, local(2027, 3, 1, 10), minutes=45)
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif())
    assert found == ["2027-03-01 09:00", "2027-03-01 10:45"]


def test_a_cancelled_meeting_frees_its_slot(ass):
    plage(ass, weekday=0)
    meeting(ass, local(2027, 3, 1, 10), statut=Entretien.Statut.ANNULE)
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif())
    assert found == ["2027-03-01 09:00", "2027-03-01 10:00", "2027-03-01 11:00"]


def test_a_meeting_of_another_ass_takes_nothing(ass, colleague):
    plage(ass, weekday=0)
    meeting(colleague, local(2027, 3, 1, 10))
    assert len(starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif())) == 3


def test_the_first_slot_respects_the_minimum_delay_rounded_up_to_5_minutes(ass):
    plage(ass, weekday=0)
    now = local(2027, 3, 1, 8, 3)
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif(delai_min_heures=1), now=now)
    assert found == ["2027-03-01 09:05", "2027-03-01 10:05"]


def test_the_default_minimum_delay_is_24_hours(ass):
    plage(ass, weekday=0)
    plage(ass, weekday=1)
    the_motif = Motif.objects.get(label="Premier rendez-vous")
    now = local(2027, 3, 1, 9, 30)
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 3), the_motif, now=now)
    assert found == ["2027-03-02 09:30", "2027-03-02 10:30"]


def test_no_slot_starts_after_the_maximum_delay(ass):
    plage(ass, weekday=0)
    now = local(2027, 3, 1, 12)
    found = starts(ass, now, local(2027, 6, 1), motif(delai_max_jours=14), now=now)
    assert found == [
        "2027-03-08 09:00",
        "2027-03-08 10:00",
        "2027-03-08 11:00",
        "2027-03-15 09:00",
        "2027-03-15 10:00",
        "2027-03-15 11:00",
    ]
    found = starts(ass, now, local(2027, 6, 1), motif(delai_max_jours=14), now=now.replace(hour=10))
    assert found[-1] == "2027-03-15 10:00"


def test_round_up_5_minutes():
    assert round_up_5_minutes(local(2027, 3, 1, 9, 0)) == local(2027, 3, 1, 9, 0)
    assert round_up_5_minutes(local(2027, 3, 1, 9) + datetime.timedelta(seconds=1)) == local(
        2027, 3, 1, 9, 5
    )
    assert round_up_5_minutes(local(2027, 3, 1, 9, 58)) == local(2027, 3, 1, 10, 0)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        # Last Sunday of March 2027 is the 28th: 09:00 is 08:00 UTC before, 07:00 UTC after.
        ((2027, 3, 23), (2027, 3, 30)),
        # Last Sunday of October 2027 is the 31st: 09:00 is 07:00 UTC before, 08:00 UTC after.
        ((2027, 10, 26), (2027, 11, 2)),
    ],
    ids=["march", "october"],
)
def test_a_range_keeps_its_local_hours_across_a_dst_change(ass, before, after):
    plage(ass, weekday=1, end=(11, 0))  # Tuesdays 09:00–11:00
    found = free_slots(
        ass_ids=[ass.pk],
        start=local(*before),
        end=local(*after, 23),
        motif=motif(),
        now=local(2027, 1, 1),
    )[ass.pk]
    assert [(s.astimezone(PARIS).strftime("%d/%m %H:%M"), (e - s)) for s, e in found] == [
        (f"{before[2]:02d}/{before[1]:02d} 09:00", datetime.timedelta(hours=1)),
        (f"{before[2]:02d}/{before[1]:02d} 10:00", datetime.timedelta(hours=1)),
        (f"{after[2]:02d}/{after[1]:02d} 09:00", datetime.timedelta(hours=1)),
        (f"{after[2]:02d}/{after[1]:02d} 10:00", datetime.timedelta(hours=1)),
    ]
    utc_hours = [s.astimezone(UTC).hour for s, _ in found]
    assert utc_hours[0] != utc_hours[2]


def test_slots_on_the_night_of_the_change_last_their_real_length(ass):
    """Wall-clock arithmetic would make the 01:00 slot of 31 October 2027 two hours long."""
    plage(ass, weekday=6, start=(0, 0), end=(4, 0))  # a Sunday range, through the change
    found = free_slots(
        ass_ids=[ass.pk],
        start=local(2027, 10, 31),
        end=local(2027, 11, 1),
        motif=motif(),
        now=local(2027, 1, 1),
    )[ass.pk]
    assert all(e - s == datetime.timedelta(hours=1) for s, e in found)
    assert len(found) == 5  # 00:00 → 04:00 local is five real hours that night


def test_the_mode_filters_the_ranges(ass):
    plage(ass, weekday=0, modes=["sur_place"])
    plage(ass, weekday=1, modes=["telephone", "visio"])
    args = (ass, local(2027, 3, 1), local(2027, 3, 3), motif(duree_minutes=180))
    assert starts(*args, mode="telephone") == ["2027-03-02 09:00"]
    assert starts(*args, mode="sur_place") == ["2027-03-01 09:00"]
    assert starts(*args, mode="domicile") == []
    assert starts(*args) == ["2027-03-01 09:00", "2027-03-02 09:00"]


def test_a_motif_limited_to_some_modes_offers_only_their_ranges(ass):
    plage(ass, weekday=0, modes=["sur_place"])
    plage(ass, weekday=1, modes=["telephone"])
    phone_only = motif(duree_minutes=180, modes=["telephone"])
    args = (ass, local(2027, 3, 1), local(2027, 3, 3), phone_only)
    assert starts(*args) == ["2027-03-02 09:00"]
    assert starts(*args, mode="sur_place") == []


def test_overlapping_ranges_of_one_ass_give_no_duplicate_slot(ass):
    plage(ass, weekday=0, end=(11, 0), modes=["sur_place"])
    plage(ass, weekday=0, start=(10, 0), end=(12, 0), modes=["telephone"])
    found = starts(ass, local(2027, 3, 1), local(2027, 3, 2), motif())
    assert found == ["2027-03-01 09:00", "2027-03-01 10:00", "2027-03-01 11:00"]


def test_every_ass_asked_is_a_key(ass, colleague):
    plage(ass, weekday=0)
    found = free_slots(
        ass_ids=[ass.pk, colleague.pk],
        start=local(2027, 3, 1),
        end=local(2027, 3, 2),
        motif=motif(),
        now=local(2027, 1, 1),
    )
    assert set(found) == {ass.pk, colleague.pk}
    assert found[colleague.pk] == []
    assert len(found[ass.pk]) == 3


@pytest.mark.parametrize("n_ass", [1, 15])
def test_the_query_count_does_not_grow_with_the_ass(django_assert_num_queries, unit, n_ass):
    staff = [UserFactory(ass=True, unit=unit) for _ in range(n_ass)]
    for user in staff:
        plage(user, weekday=0)
        plage(user, weekday=2)
        Absence.objects.create(ass=user, debut=local(2027, 3, 3, 9), fin=local(2027, 3, 3, 10))
        meeting(user, local(2027, 3, 1, 10))
    the_motif = motif()
    with django_assert_num_queries(4):
        found = free_slots(
            ass_ids=[u.pk for u in staff],
            start=local(2027, 3, 1),
            end=local(2027, 3, 8),
            motif=the_motif,
            now=local(2027, 1, 1),
        )
    assert all(len(found[u.pk]) == 2 + 2 for u in staff)


# --- Services -------------------------------------------------------------------------------


def _create(acting_user, ass, **overrides):
    data = {
        "weekday": 0,
        "heure_debut": datetime.time(9),
        "heure_fin": datetime.time(12),
        "modes": ["sur_place", "telephone"],
        "lieu": "Agence de Rouen",
    }
    return availability.plage_create(acting_user=acting_user, ass=ass, **(data | overrides))


def test_an_ass_sets_her_own_range_and_it_is_audited(ass):
    created = _create(ass, ass)
    assert (created.ass, created.premier_jour) == (ass, timezone.localdate())
    row = AuditLog.objects.get(object_type="cases.plageouverture", object_id=str(created.pk))
    assert (row.user, row.action, row.assure_id) == (ass, AuditLog.Action.CREATE, None)
    assert row.changes["heure_debut"] == [None, "09:00:00"]
    assert row.changes["modes"] == [None, ["sur_place", "telephone"]]


def test_the_manager_sets_a_range_for_an_ass_of_her_unit(manager, ass):
    assert _create(manager, ass).ass == ass


@pytest.mark.parametrize("who", ["colleague", "conseiller", "outsider"])
def test_others_may_not_set_an_ass_range(request, ass, who):
    with pytest.raises(PermissionDenied):
        _create(request.getfixturevalue(who), ass)
    assert not PlageOuverture.objects.exists()


def test_a_manager_of_another_unit_may_not_set_a_range(ass, other_unit):
    with pytest.raises(PermissionDenied):
        _create(UserFactory(manager=True, unit=other_unit), ass)


def test_a_range_must_end_after_it_starts(ass):
    with pytest.raises(ValidationError, match="L'heure de fin doit suivre"):
        _create(ass, ass, heure_fin=datetime.time(9))


def test_a_range_needs_a_mode(ass):
    with pytest.raises(ValidationError, match="au moins une modalité"):
        _create(ass, ass, modes=[])
    with pytest.raises(ValidationError, match="parmi celles proposées"):
        _create(ass, ass, modes=["pigeon"])


def test_a_range_last_day_may_not_precede_its_first(ass):
    today = timezone.localdate()
    with pytest.raises(ValidationError, match="ne peut pas précéder le premier jour"):
        _create(ass, ass, premier_jour=today, dernier_jour=today - datetime.timedelta(days=1))


def test_two_ranges_of_one_ass_may_not_overlap(ass):
    _create(ass, ass)
    with pytest.raises(ValidationError, match="chevauche la plage « Lundi 09:00–12:00 »"):
        _create(ass, ass, heure_debut=datetime.time(11), heure_fin=datetime.time(13))
    _create(ass, ass, heure_debut=datetime.time(12), heure_fin=datetime.time(13))
    _create(ass, ass, weekday=1)


def test_ranges_that_do_not_share_a_day_may_overlap_in_hours(ass):
    today = timezone.localdate()
    _create(ass, ass, premier_jour=today, dernier_jour=today + datetime.timedelta(days=30))
    _create(ass, ass, premier_jour=today + datetime.timedelta(days=31))
    assert PlageOuverture.objects.count() == 2


def test_updating_a_range_audits_old_and_new_values(ass):
    created = _create(ass, ass)
    availability.plage_update(plage=created, acting_user=ass, heure_fin=datetime.time(11, 30))
    created.refresh_from_db()
    assert created.heure_fin == datetime.time(11, 30)
    row = AuditLog.objects.get(action=AuditLog.Action.UPDATE, object_type="cases.plageouverture")
    assert row.changes == {"heure_fin": ["12:00:00", "11:30:00"]}


def test_an_update_is_checked_like_a_creation(ass):
    created = _create(ass, ass)
    with pytest.raises(ValidationError):
        availability.plage_update(plage=created, acting_user=ass, heure_fin=datetime.time(8))
    created.refresh_from_db()
    assert created.heure_fin == datetime.time(12)


def test_deleting_a_range_is_audited(ass, manager):
    created = _create(ass, ass)
    availability.plage_delete(plage=created, acting_user=manager)
    assert not PlageOuverture.objects.exists()
    row = AuditLog.objects.get(action=AuditLog.Action.DELETE, object_type="cases.plageouverture")
    assert row.user == manager and row.changes["weekday"] == [0, None]


def test_an_absence_is_created_and_deleted_with_audit_rows(ass):
    debut = timezone.now() + datetime.timedelta(days=3)
    absence = availability.absence_create(
        acting_user=ass, ass=ass, debut=debut, fin=debut + datetime.timedelta(hours=4)
    )
    availability.absence_delete(absence=absence, acting_user=ass)
    assert not Absence.objects.exists()
    actions = AuditLog.objects.filter(object_type="cases.absence").values_list("action", flat=True)
    assert sorted(actions) == ["create", "delete"]


def test_an_absence_must_end_after_it_starts_and_not_be_past(ass):
    debut = timezone.now() + datetime.timedelta(days=3)
    with pytest.raises(ValidationError, match="doit suivre son début"):
        availability.absence_create(acting_user=ass, ass=ass, debut=debut, fin=debut)
    past = timezone.now() - datetime.timedelta(days=3)
    with pytest.raises(ValidationError, match="déjà passée"):
        availability.absence_create(
            acting_user=ass, ass=ass, debut=past, fin=past + datetime.timedelta(hours=1)
        )


def test_a_colleague_may_not_record_an_absence(ass, colleague):
    debut = timezone.now() + datetime.timedelta(days=3)
    with pytest.raises(PermissionDenied):
        availability.absence_create(
            acting_user=colleague, ass=ass, debut=debut, fin=debut + datetime.timedelta(hours=1)
        )


# --- The staff page -------------------------------------------------------------------------

PAGE = reverse("cases:availability")


def test_anonymous_users_are_sent_to_the_login_page(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert "/login" in response.url


def test_an_ass_sees_her_ranges_absences_and_next_free_slots(client, ass):
    _create(ass, ass, weekday=timezone.localdate().weekday())
    debut = timezone.now() + datetime.timedelta(days=20)
    availability.absence_create(
        acting_user=ass, ass=ass, debut=debut, fin=debut + datetime.timedelta(hours=2)
    )
    client.force_login(ass)
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Agence de Rouen" in page
    assert "Premier rendez-vous" in page and "Rendez-vous de suivi" in page
    assert f"{timezone.localtime(debut):%d/%m/%Y %H:%M}" in page
    assert response.context["previews"][0]["slots"]  # the next weeks hold free slots


def test_the_page_query_count_is_bounded(client, ass, django_assert_max_num_queries):
    for weekday in range(5):
        _create(ass, ass, weekday=weekday)
    client.force_login(ass)
    with django_assert_max_num_queries(15):
        assert client.get(PAGE).status_code == 200


def test_the_manager_opens_the_page_of_an_ass_of_her_unit(client, manager, ass):
    _create(ass, ass)
    client.force_login(manager)
    team = client.get(PAGE)
    assert team.status_code == 200
    assert f"?ass={ass.pk}" in team.content.decode()
    response = client.get(PAGE, {"ass": ass.pk})
    assert response.status_code == 200
    assert "Agence de Rouen" in response.content.decode()


def test_an_ass_of_another_unit_is_not_found(client, outsider, ass):
    client.force_login(outsider)
    assert client.get(PAGE, {"ass": ass.pk}).status_code == 404
    assert client.get(PAGE, {"ass": "x"}).status_code == 404


def test_a_colleague_may_not_open_another_ass_page(client, colleague, ass):
    client.force_login(colleague)
    assert client.get(PAGE, {"ass": ass.pk}).status_code == 403


def test_a_conseiller_may_not_open_the_page(client, conseiller, ass):
    client.force_login(conseiller)
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE, {"ass": ass.pk}).status_code == 403


def test_the_agenda_links_to_the_page_for_ass_and_managers(client, ass, conseiller):
    client.force_login(ass)
    assert PAGE in client.get(reverse("cases:agenda")).content.decode()
    client.force_login(conseiller)
    assert PAGE not in client.get(reverse("cases:agenda")).content.decode()


def _range_data(**overrides):
    return {
        "weekday": "2",
        "heure_debut": "14:00",
        "heure_fin": "17:00",
        "lieu": "Permanence du Havre",
        "modes": ["sur_place", "visio"],
        "premier_jour": timezone.localdate().isoformat(),
        "dernier_jour": "",
    } | overrides


def test_the_manager_adds_a_range_for_an_ass(client, manager, ass):
    client.force_login(manager)
    url = f"{reverse('cases:availability_plage_create')}?ass={ass.pk}"
    assert client.get(url).status_code == 200
    response = client.post(url, _range_data())
    assert response.status_code == 302
    assert response.url == f"{PAGE}?ass={ass.pk}"
    created = PlageOuverture.objects.get()
    assert (created.ass, created.weekday, created.modes) == (ass, 2, ["sur_place", "visio"])
    assert AuditLog.objects.get(object_type="cases.plageouverture").user == manager


def test_a_refused_range_shows_the_reason_next_to_the_field(client, ass):
    _create(ass, ass, weekday=2, heure_debut=datetime.time(15), heure_fin=datetime.time(16))
    client.force_login(ass)
    response = client.post(reverse("cases:availability_plage_create"), _range_data())
    assert response.status_code == 200
    assert "chevauche la plage" in response.content.decode()
    assert PlageOuverture.objects.count() == 1


def test_a_colleague_may_not_add_a_range_for_an_ass(client, colleague, ass):
    client.force_login(colleague)
    url = f"{reverse('cases:availability_plage_create')}?ass={ass.pk}"
    assert client.post(url, _range_data()).status_code == 403
    assert not PlageOuverture.objects.exists()


def test_an_ass_edits_and_deletes_her_range(client, ass):
    created = _create(ass, ass)
    client.force_login(ass)
    url = reverse("cases:availability_plage_edit", args=[created.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, _range_data(weekday="0", heure_debut="08:30", heure_fin="12:00"))
    assert response.status_code == 302
    created.refresh_from_db()
    assert created.heure_debut == datetime.time(8, 30)
    delete = reverse("cases:availability_plage_delete", args=[created.pk])
    assert client.get(delete).status_code == 405
    assert client.post(delete).status_code == 302
    assert not PlageOuverture.objects.exists()


def test_ranges_of_other_units_are_not_found_and_a_colleague_s_are_forbidden(
    client, ass, colleague, outsider
):
    created = _create(ass, ass)
    delete = reverse("cases:availability_plage_delete", args=[created.pk])
    client.force_login(outsider)
    assert client.post(delete).status_code == 404
    client.force_login(colleague)
    assert client.post(delete).status_code == 403
    assert PlageOuverture.objects.filter(pk=created.pk).exists()


def test_an_ass_records_and_deletes_an_absence_from_the_page(client, ass, outsider):
    client.force_login(ass)
    url = reverse("cases:availability_absence_create")
    assert client.get(url).status_code == 200
    day = timezone.localdate() + datetime.timedelta(days=10)
    response = client.post(
        url, {"debut": f"{day}T09:00", "fin": f"{day}T17:00", "motif": "Formation"}
    )
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert timezone.localtime(absence.debut).hour == 9 and absence.motif == "Formation"
    delete = reverse("cases:availability_absence_delete", args=[absence.pk])
    client.force_login(outsider)
    assert client.post(delete).status_code == 404
    client.force_login(ass)
    assert client.post(delete).status_code == 302
    assert not Absence.objects.exists()


# --- Benchmark --------------------------------------------------------------------------------


def test_the_benchmark_runs_and_leaves_nothing_behind(unit):
    out = io.StringIO()
    call_command("bench_slots", "--ass", "2", "--weeks", "1", "--repeat", "1", stdout=out)
    text = out.getvalue()
    assert "2 ASS, 1 semaines" in text and "4 requêtes" in text
    assert "créneaux libres" in text
    assert not PlageOuverture.objects.exists()
    assert not Entretien.objects.exists()
