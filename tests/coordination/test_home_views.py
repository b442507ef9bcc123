"""The cellule's home pages (coordinator's home, instance and members, « mes actions »,
« mes réunions »), the menu and the home redirect, and the partner account's confinement:
each page × anonymous, outsider (ASS of another unit), member, coordinator of another instance,
coordinator, partner account; query counts pinned; changes re-read."""

import datetime
import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, URLPattern, reverse
from django.utils import timezone

from cases import services as case_services
from cases.models import CaseEvent
from cases.urls import urlpatterns as cases_urlpatterns
from coordination import services
from coordination.forms_home import MembreAddForm
from coordination.models import (
    ActionInstance,
    MembreInstance,
    Organisation,
    PointOrdreDuJour,
    Presence,
    Reunion,
)
from pdp.context_processors import nav_items_for
from pdp.models import AuditLog, User
from referrals.urls import urlpatterns as referrals_urlpatterns
from tests.architecture.test_text_lengths import _unbounded
from tests.coordination.conftest import FICHE
from tests.factories import (
    AccompagnementFactory,
    InstanceFactory,
    MembreFactory,
    PartnerContactFactory,
    PartnerFactory,
    RegionFactory,
    ReunionFactory,
    SaisineFactory,
    UnitFactory,
    UserFactory,
)
from tests.test_typography import check_pages

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate
DAY = datetime.timedelta(days=1)


def url(name, *args):
    return reverse(f"coordination:{name}", args=args)


def text(response):
    return html.unescape(response.content.decode())


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def other_coordinateur(other_unit):
    """The coordinator of another instance of the region (covering the other unit)."""
    user = UserFactory(coordinateur=True, first_name="Olivier", last_name="Autre")
    InstanceFactory(
        region=other_unit.region, units=[other_unit], coordinateurs=[user], nom="Cellule de Caen"
    )
    return user


@pytest.fixture
def saisine(case, instance, ass, consent):
    return services.saisine_submit(
        accompagnement=case,
        instance=instance,
        acting_user=ass,
        question="Quel aménagement de poste envisager ?",
        **FICHE,
    )


@pytest.fixture
def reunion(instance, coordinateur, membres, saisine):
    """Planned next week with the situation on its agenda, the agenda frozen."""
    reunion = services.reunion_plan(
        instance=instance,
        acting_user=coordinateur,
        debut=timezone.now() + 7 * DAY,
        lieu="CARSAT, salle 2",
    )
    services.reunion_freeze_agenda(reunion=reunion, acting_user=coordinateur)
    return reunion


@pytest.fixture
def action(reunion, coordinateur, membre_partenaire):
    """Given to the partner member, five days late."""
    return services.action_add(
        point=reunion.points.get(),
        acting_user=coordinateur,
        libelle="Étudier un aménagement du poste",
        responsable=membre_partenaire,
        echeance=TODAY() - 5 * DAY,
    )


@pytest.fixture
def ex_partenaire(instance):
    """A partner account whose membership ended last month."""
    user = UserFactory(partenaire=True, first_name="Eva", last_name="Ancienne")
    MembreFactory(
        instance=instance,
        user=user,
        organisation=Organisation.MDPH,
        date_debut=TODAY() - 400 * DAY,
        date_fin=TODAY() - 30 * DAY,
    )
    return user


def _fill_instance(coordinateur, unit, *, n_actions=1, label="X"):
    """An instance of `coordinateur` with a meeting, a waiting situation and overdue actions
    (built with the factories: the services are tested apart)."""
    instance = InstanceFactory(region=unit.region, units=[unit], coordinateurs=[coordinateur])
    membre = MembreFactory(
        instance=instance, user=UserFactory(ass=True, unit=unit), organisation="service_social"
    )
    reunion = ReunionFactory(instance=instance, created_by=coordinateur, statut="odj_arrete")
    Presence.objects.create(reunion=reunion, membre=membre)
    for index in range(n_actions):
        referent = UserFactory(ass=True, unit=unit)
        saisine = SaisineFactory(
            accompagnement=AccompagnementFactory(referent=referent), instance=instance
        )
        point = PointOrdreDuJour.objects.create(
            reunion=reunion, saisine=saisine, ordre=index, origine="nouvelle"
        )
        ActionInstance.objects.create(
            point=point,
            libelle=f"Action {label}{index}",
            responsable=membre,
            echeance=TODAY() - DAY,
            created_by=coordinateur,
        )
    return instance, membre


# --- Anonymous users ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, args, method",
    [
        ("home", [], "get"),
        ("instance_detail", [1], "get"),
        ("membre_create", [1], "post"),
        ("membre_end", [1, 1], "post"),
        ("mes_actions", [], "get"),
        ("action_report", [1], "post"),
        ("mes_reunions", [], "get"),
    ],
)
def test_anonymous_users_are_sent_to_the_login_page(client, name, args, method):
    response = getattr(client, method)(url(name, *args))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


# --- The home redirect and the menu ------------------------------------------------------------


def test_the_home_page_opens_the_coordinators_home_and_the_partners_meetings(
    client, coordinateur, partenaire
):
    client.force_login(coordinateur)
    assert client.get(reverse("home")).url == url("home")
    client.force_login(partenaire)
    assert client.get(reverse("home")).url == url("mes_reunions")


def test_the_menu_of_the_coordinator_and_of_the_partner(coordinateur, partenaire):
    assert [(i["label"], i["url"]) for i in nav_items_for(coordinateur)] == [
        ("Cellule PDP", url("home")),
        ("Mes actions", url("mes_actions")),
        ("Indicateurs", reverse("indicators:index")),
    ]
    assert [(i["label"], i["url"]) for i in nav_items_for(partenaire)] == [
        ("Mes réunions", url("mes_reunions")),
        ("Mes actions", url("mes_actions")),
    ]


def test_unit_staff_reach_their_situations_presented_from_the_menu(manager, ass, conseiller):
    for user in (manager, ass):
        assert ("Cellule PDP", url("saisine_list_unit")) in [
            (i["label"], i["url"]) for i in nav_items_for(user)
        ]
    assert "Cellule PDP" not in [i["label"] for i in nav_items_for(conseiller)]


def test_other_roles_see_the_cellule_in_the_menu_only_while_members(
    membre_medical, medecin, django_assert_num_queries
):
    assert ("Cellule PDP", url("mes_reunions")) in [
        (i["label"], i["url"]) for i in nav_items_for(medecin)
    ]
    services.membre_end(
        membre=membre_medical,
        acting_user=membre_medical.instance.coordinateurs.get(),
        date_fin=TODAY() - DAY,
    )
    fresh = User.objects.get(pk=medecin.pk)  # the next request's user
    # One EXISTS query, then cached for the request (the same user object).
    with django_assert_num_queries(1):
        assert "Cellule PDP" not in [i["label"] for i in nav_items_for(fresh)]
        nav_items_for(fresh)


def test_the_administrator_has_no_cellule_entry(admin_user, instance):
    MembreFactory(instance=instance, user=UserFactory(ass=True))
    assert [i["label"] for i in nav_items_for(admin_user)] == [
        "Indicateurs",
        "Administration",
        "Conservation",
    ]


# --- The coordinator's home --------------------------------------------------------------------


def test_the_coordinators_home_shows_meetings_waiting_situations_and_overdue_actions(
    client, coordinateur, instance, reunion, saisine, action, case, unit
):
    client.force_login(coordinateur)
    response = client.get(url("home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert instance.nom in page
    assert reunion.debut.astimezone(timezone.get_current_timezone()).strftime("%d/%m/%Y") in page
    assert "Ordre du jour arrêté" in page
    assert f"n° {saisine.pk} (J. D.)" in page
    assert str(unit) in page  # présentée par: the unit, not the person
    assert str(case.referent) not in page
    assert "Étudier un aménagement du poste" in page
    assert "Paul Cap (Cap emploi)" in page
    assert "5 jours" in page and "en retard" in page
    assure = case.assure
    for identity in (assure.nom_naissance, assure.prenoms, assure.nir, assure.telephone):
        assert not identity or identity not in page
    read = AuditLog.objects.get(object_type="coordination.saisine", object_id=str(saisine.pk))
    assert read.user == coordinateur
    assert read.assure_id == assure.pk
    assert read.changes == {"page": "accueil de la cellule"}


def test_the_home_links_to_the_meeting_and_planning_pages_once_they_exist(
    client, coordinateur, instance, reunion
):
    client.force_login(coordinateur)
    page = client.get(url("home")).content.decode()
    for name, args in (("reunion_detail", [reunion.pk]), ("reunion_create", [instance.pk])):
        try:
            target = reverse(f"coordination:{name}", args=args)
        except NoReverseMatch:  # built by another feature
            continue
        assert f'href="{target}"' in page


def test_the_home_shows_nothing_of_another_coordinators_instance(
    client, other_coordinateur, instance, saisine, action
):
    client.force_login(other_coordinateur)
    response = client.get(url("home"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Cellule de Caen" in page
    assert instance.nom not in page
    assert f"n° {saisine.pk}" not in page
    assert action.libelle not in page


def test_a_coordinator_without_instance_is_told_so(client, db):
    client.force_login(UserFactory(coordinateur=True))
    response = client.get(url("home"))
    assert response.status_code == 200
    assert "Aucune instance ne vous est confiée" in response.content.decode()


@pytest.mark.parametrize("persona", ["manager", "partenaire"])
def test_members_and_partners_are_sent_from_the_home_to_their_meetings(
    client, request, membres, persona
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(url("home"))
    assert response.status_code == 302
    assert response.url == url("mes_reunions")


@pytest.mark.parametrize("persona", ["outsider", "ass", "admin_user", "regional"])
def test_the_home_is_refused_to_who_is_neither_coordinator_nor_member(
    client, request, membres, persona
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("home")).status_code == 403


def test_the_home_takes_as_many_queries_for_one_instance_as_for_four(
    client, coordinateur, unit, django_assert_max_num_queries
):
    _fill_instance(coordinateur, unit, n_actions=2, label="A")
    client.force_login(coordinateur)
    with CaptureQueriesContext(connection) as one:
        assert client.get(url("home")).status_code == 200
    assert len(one) <= 10
    for label in "BCD":
        _fill_instance(coordinateur, unit, n_actions=3, label=label)
    with django_assert_max_num_queries(len(one)):
        response = client.get(url("home"))
    page = response.content.decode()
    assert page.count("Action ") >= 11
    assert page.count("Situations en attente") == 4


# --- The instance page -------------------------------------------------------------------------


def test_the_coordinator_sees_the_instance_its_members_and_the_forms(
    client, coordinateur, instance, membres, ex_partenaire, unit
):
    client.force_login(coordinateur)
    response = client.get(url("instance_detail", instance.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert instance.nom in page and str(unit) in page
    assert "Cellule PDP" in page and "Mensuelle" in page
    assert str(coordinateur) in page
    assert "Au moins 3 organisations différentes, dont Service social (CARSAT)" in page
    for membre in membres:
        assert membre.nom in page
    assert "Anciens membres (1)" in page and str(ex_partenaire) in page
    assert "Ajouter un membre" in page
    assert url("membre_end", instance.pk, membres[0].pk) in page
    assert "créés par l'administrateur" in html.unescape(page)


@pytest.mark.parametrize("persona", ["manager", "partenaire"])
def test_members_read_the_instance_page_without_any_form(
    client, request, instance, membres, persona
):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(url("instance_detail", instance.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert all(m.nom in page for m in membres)
    assert "Ajouter un membre" not in page
    assert "Fin d'adhésion" not in html.unescape(page)
    assert "<form" not in page.split('id="main"')[1]


@pytest.mark.parametrize(
    "persona", ["outsider", "other_coordinateur", "ex_partenaire", "ass", "admin_user"]
)
def test_the_instance_page_is_hidden_from_who_is_neither_coordinator_nor_member(
    client, request, instance, membres, persona
):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("instance_detail", instance.pk)).status_code == 404


def test_the_instance_page_has_a_fixed_number_of_queries(
    client, coordinateur, instance, unit, django_assert_max_num_queries
):
    for index in range(20):
        if index % 2:
            MembreFactory(instance=instance, user=UserFactory(ass=True, unit=unit))
        else:
            MembreFactory(
                instance=instance,
                user=None,
                contact=PartnerContactFactory(partner=PartnerFactory(region=unit.region)),
                organisation="spst",
            )
    client.force_login(coordinateur)
    # +1 for the list of the instance's meetings.
    with django_assert_max_num_queries(12):
        response = client.get(url("instance_detail", instance.pk))
    assert response.status_code == 200


# --- Adding and ending members -----------------------------------------------------------------


def _member_data(**extra):
    return {
        "user": "",
        "contact": "",
        "organisation": "service_social",
        "fonction": "Assistante sociale",
        "date_debut": TODAY().isoformat(),
        "date_fin": "",
        **extra,
    }


def test_the_coordinator_adds_an_internal_member_invited_to_the_next_meeting(
    client, coordinateur, instance, reunion, colleague
):
    client.force_login(coordinateur)
    response = client.post(url("membre_create", instance.pk), _member_data(user=colleague.pk))
    assert response.status_code == 302
    assert response.url == url("instance_detail", instance.pk) + "#membres"
    membre = MembreInstance.objects.get(instance=instance, user=colleague)
    assert membre.organisation == "service_social"
    assert membre.fonction == "Assistante sociale"
    assert membre.date_debut == TODAY() and membre.date_fin is None
    assert Presence.objects.filter(reunion=reunion, membre=membre).exists()
    log = AuditLog.objects.get(object_type="coordination.membreinstance", object_id=str(membre.pk))
    assert log.action == AuditLog.Action.CREATE and log.user == coordinateur


def test_the_coordinator_adds_a_partner_contact_without_an_account(
    client, coordinateur, instance, unit
):
    contact = PartnerContactFactory(
        name="Sandrine SPST", partner=PartnerFactory(region=unit.region, kind="spst")
    )
    client.force_login(coordinateur)
    response = client.post(
        url("membre_create", instance.pk),
        _member_data(contact=contact.pk, organisation="spst", fonction="Médecin du travail"),
    )
    assert response.status_code == 302
    membre = MembreInstance.objects.get(instance=instance, contact=contact)
    assert membre.user is None and membre.organisation == "spst"
    page = client.get(url("instance_detail", instance.pk)).content.decode()
    assert "Sandrine SPST" in page


def test_a_member_needs_an_account_or_a_contact(client, coordinateur, instance):
    client.force_login(coordinateur)
    response = client.post(url("membre_create", instance.pk), _member_data())
    assert response.status_code == 200
    assert "Choisissez un compte, un contact partenaire, ou les deux." in text(response)
    assert not MembreInstance.objects.filter(instance=instance).exists()


def test_a_person_already_member_is_refused_with_the_services_message(
    client, coordinateur, instance, membre_social, manager
):
    client.force_login(coordinateur)
    response = client.post(url("membre_create", instance.pk), _member_data(user=manager.pk))
    assert response.status_code == 200
    assert "déjà membre de l'instance" in text(response)
    assert MembreInstance.objects.filter(instance=instance, user=manager).count() == 1


def test_the_member_choices_are_the_regions_staff_and_partner_accounts(instance, unit):
    elsewhere = UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    staff = UserFactory(ass=True, unit=unit)
    medecin = UserFactory(medecin=True, region=unit.region)
    partner = UserFactory(partenaire=True)
    foreign = UserFactory(ass=True, unit=elsewhere)
    admin = UserFactory(admin=True)
    inactive = UserFactory(ass=True, unit=unit, is_active=False)
    foreign_contact = PartnerContactFactory(partner=PartnerFactory(region=elsewhere.region))
    local_contact = PartnerContactFactory(partner=PartnerFactory(region=unit.region))
    form = MembreAddForm(instance=instance)
    users = set(form.fields["user"].queryset)
    assert {staff, medecin, partner} <= users
    assert not {foreign, admin, inactive} & users
    contacts = set(form.fields["contact"].queryset)
    assert local_contact in contacts and foreign_contact not in contacts


def test_a_user_of_another_region_cannot_be_posted_as_member(client, coordinateur, instance):
    foreign = UserFactory(
        ass=True, unit=UnitFactory(region=RegionFactory(code="BRE", name="CARSAT Bretagne"))
    )
    client.force_login(coordinateur)
    response = client.post(url("membre_create", instance.pk), _member_data(user=foreign.pk))
    assert response.status_code == 200
    assert not MembreInstance.objects.filter(user=foreign).exists()


def test_the_coordinator_ends_a_membership(client, coordinateur, instance, membre_partenaire):
    client.force_login(coordinateur)
    response = client.post(
        url("membre_end", instance.pk, membre_partenaire.pk),
        {"date_fin": (TODAY() - DAY).isoformat()},
    )
    assert response.status_code == 302
    membre_partenaire.refresh_from_db()
    assert membre_partenaire.date_fin == TODAY() - DAY
    log = AuditLog.objects.get(
        object_type="coordination.membreinstance",
        object_id=str(membre_partenaire.pk),
        action=AuditLog.Action.UPDATE,
    )
    assert log.changes == {"date_fin": [None, (TODAY() - DAY).isoformat()]}
    # The partner no longer reads the instance.
    client.force_login(membre_partenaire.user)
    assert client.get(url("instance_detail", instance.pk)).status_code == 404
    # A past membership does not end twice (a later date would reopen it).
    client.force_login(coordinateur)
    response = client.post(
        url("membre_end", instance.pk, membre_partenaire.pk),
        {"date_fin": (TODAY() + 30 * DAY).isoformat()},
        follow=True,
    )
    assert "Cette adhésion est déjà terminée." in text(response)
    membre_partenaire.refresh_from_db()
    assert membre_partenaire.date_fin == TODAY() - DAY


def test_an_end_before_the_start_is_refused(client, coordinateur, instance, membre_social):
    client.force_login(coordinateur)
    response = client.post(
        url("membre_end", instance.pk, membre_social.pk),
        {"date_fin": (membre_social.date_debut - DAY).isoformat()},
        follow=True,
    )
    assert "La fin de l'adhésion suit son début." in text(response)
    membre_social.refresh_from_db()
    assert membre_social.date_fin is None


@pytest.mark.parametrize(
    "persona, status",
    [
        ("manager", 403),
        ("partenaire", 403),
        ("outsider", 404),
        ("other_coordinateur", 404),
        ("ex_partenaire", 404),
    ],
)
def test_only_the_coordinator_changes_the_members(
    client, request, instance, membres, membre_partenaire, colleague, persona, status
):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(url("membre_create", instance.pk), _member_data(user=colleague.pk))
    assert response.status_code == status
    response = client.post(
        url("membre_end", instance.pk, membre_partenaire.pk), {"date_fin": TODAY().isoformat()}
    )
    assert response.status_code == status
    assert not MembreInstance.objects.filter(user=colleague).exists()
    membre_partenaire.refresh_from_db()
    assert membre_partenaire.date_fin is None


def test_a_member_of_another_instance_is_not_found(
    client, coordinateur, instance, other_coordinateur
):
    elsewhere = other_coordinateur.instances_coordonnees.get()
    stranger = MembreFactory(instance=elsewhere)
    client.force_login(coordinateur)
    response = client.post(
        url("membre_end", instance.pk, stranger.pk), {"date_fin": TODAY().isoformat()}
    )
    assert response.status_code == 404


# --- Mes actions -------------------------------------------------------------------------------


def test_the_partner_sees_their_action_overdue_with_the_reference_only(
    client, partenaire, action, saisine, reunion, case
):
    client.force_login(partenaire)
    response = client.get(url("mes_actions"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Étudier un aménagement du poste" in page
    assert f"n° {saisine.pk} (J. D.)" in page
    assert "en retard" in page and "5 jours" in page
    assert reunion.debut.astimezone(timezone.get_current_timezone()).strftime("%d/%m/%Y") in page
    assert url("action_report", action.pk) in page
    assure = case.assure
    for identity in (assure.nom_naissance, assure.prenoms, assure.nir):
        assert not identity or identity not in page
    log = AuditLog.objects.get(object_type="coordination.saisine", object_id=str(saisine.pk))
    assert log.user == partenaire and log.changes == {"page": "mes actions"}


def test_a_member_sees_only_the_actions_given_to_them(client, manager, action):
    client.force_login(manager)
    response = client.get(url("mes_actions"))
    assert response.status_code == 200
    page = response.content.decode()
    assert action.libelle not in page
    assert "Aucune action." in page


def test_the_coordinator_sees_every_action_of_their_instances(
    client, coordinateur, other_coordinateur, action
):
    client.force_login(coordinateur)
    mine = client.get(url("mes_actions")).content.decode()
    assert action.libelle not in mine
    assert "Toutes les actions de mes instances" in mine
    page = client.get(url("mes_actions") + "?vue=instances").content.decode()
    assert action.libelle in page
    assert "Paul Cap (Cap emploi)" in page
    assert url("action_report", action.pk) in page
    client.force_login(other_coordinateur)
    page = client.get(url("mes_actions") + "?vue=instances").content.decode()
    assert action.libelle not in page


def test_the_instances_view_is_the_coordinators_only(client, partenaire, action):
    client.force_login(partenaire)
    page = client.get(url("mes_actions") + "?vue=instances").content.decode()
    assert "Toutes les actions de mes instances" not in page
    assert "Confiée à" not in page


def test_actions_are_filtered_by_status(client, coordinateur, action):
    client.force_login(coordinateur)
    page = client.get(url("mes_actions") + "?vue=instances&statut=faite").content.decode()
    assert action.libelle not in page
    page = client.get(url("mes_actions") + "?vue=instances&statut=ouverte").content.decode()
    assert action.libelle in page


@pytest.mark.parametrize("persona", ["outsider", "ass", "admin_user", "medecin"])
def test_mes_actions_is_refused_to_who_never_was_a_member(client, request, instance, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("mes_actions")).status_code == 403


def test_a_past_member_still_sees_the_actions_given_to_them(client, ex_partenaire, instance):
    client.force_login(ex_partenaire)
    assert client.get(url("mes_actions")).status_code == 200


def test_mes_actions_has_a_fixed_number_of_queries(
    client, coordinateur, unit, django_assert_max_num_queries
):
    _instance, membre = _fill_instance(coordinateur, unit, n_actions=30)
    client.force_login(membre.user)
    with django_assert_max_num_queries(11):
        response = client.get(url("mes_actions"))
    assert response.content.decode().count('id="action-') == 30
    client.force_login(coordinateur)
    with django_assert_max_num_queries(11):
        response = client.get(url("mes_actions") + "?vue=instances")
    assert response.content.decode().count('id="action-') == 30


# --- Reporting on an action --------------------------------------------------------------------


def _report(client, action, statut="faite", compte_rendu="Étude de poste réalisée.", **extra):
    prefix = f"a{action.pk}"
    return client.post(
        url("action_report", action.pk),
        {f"{prefix}-statut": statut, f"{prefix}-compte_rendu": compte_rendu, "vue": "miennes"},
        **extra,
    )


def test_the_partner_reports_on_their_action(client, partenaire, action, case):
    client.force_login(partenaire)
    response = _report(client, action)
    assert response.status_code == 302
    assert response.url == url("mes_actions") + f"#action-{action.pk}"
    action.refresh_from_db()
    assert action.statut == "faite"
    assert action.compte_rendu == "Étude de poste réalisée."
    assert action.closed_at is not None
    event = CaseEvent.objects.filter(accompagnement=case, kind=CaseEvent.Kind.CELLULE).latest("pk")
    assert "faite" in event.summary and event.actor == partenaire


def test_with_htmx_the_row_comes_back_alone(client, partenaire, action):
    client.force_login(partenaire)
    response = _report(client, action, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith(f'<tr id="action-{action.pk}">')
    assert "<html" not in page
    assert "Enregistré." in page and "Faite" in page
    action.refresh_from_db()
    assert action.statut == "faite"


def test_the_coordinator_reports_on_an_action_of_their_instance(client, coordinateur, action):
    client.force_login(coordinateur)
    assert _report(client, action, statut="abandonnee", compte_rendu="").status_code == 302
    action.refresh_from_db()
    assert action.statut == "abandonnee"


def test_an_unknown_status_is_refused(client, partenaire, action):
    client.force_login(partenaire)
    response = _report(client, action, statut="perdue", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page
    assert "Étude de poste réalisée." in page  # what was typed stays
    action.refresh_from_db()
    assert action.statut == "ouverte"


@pytest.mark.parametrize(
    "persona", ["manager", "outsider", "other_coordinateur", "medecin", "ex_partenaire"]
)
def test_an_action_of_someone_else_is_not_found(client, request, action, persona):
    client.force_login(request.getfixturevalue(persona))
    assert _report(client, action).status_code == 404
    action.refresh_from_db()
    assert action.statut == "ouverte"


def test_reporting_is_a_post(client, partenaire, action):
    client.force_login(partenaire)
    assert client.get(url("action_report", action.pk)).status_code == 405


def test_a_withdrawn_situation_shows_no_report_form_and_refuses_one(
    client, partenaire, action, saisine, consent, case, ass, reunion, coordinateur
):
    for presence in reunion.presences.select_related("membre"):
        services.presence_set(presence=presence, acting_user=coordinateur, statut="present")
    services.reunion_mark_held(reunion=reunion, acting_user=coordinateur)
    case_services.consentement_revoke(consentement=consent, accompagnement=case, acting_user=ass)
    client.force_login(partenaire)
    page = text(client.get(url("mes_actions")))
    assert "situation retirée à la demande de l'assuré" in page
    assert "(J. D.)" not in page
    assert url("action_report", action.pk) not in page
    response = _report(client, action, statut="ouverte", follow=True)
    assert "La situation a été retirée à la demande de l'assuré." in text(response)
    action.refresh_from_db()
    assert action.statut == "abandonnee"


# --- Mes réunions ------------------------------------------------------------------------------


def test_the_partner_sees_the_meetings_they_are_invited_to(
    client, partenaire, instance, reunion, membre_partenaire, coordinateur
):
    past = ReunionFactory(
        instance=instance,
        created_by=coordinateur,
        debut=timezone.now() - 30 * DAY,
        statut=Reunion.Statut.CR_VALIDE,
    )
    Presence.objects.create(reunion=past, membre=membre_partenaire, statut="present")
    not_invited = ReunionFactory(
        instance=instance, created_by=coordinateur, debut=timezone.now() + 20 * DAY
    )
    client.force_login(partenaire)
    response = client.get(url("mes_reunions"))
    assert response.status_code == 200
    page = response.content.decode()
    local = timezone.get_current_timezone()
    assert reunion.debut.astimezone(local).strftime("%d/%m/%Y à %H:%M") in page
    assert past.debut.astimezone(local).strftime("%d/%m/%Y à %H:%M") in page
    assert not_invited.debut.astimezone(local).strftime("%d/%m/%Y à %H:%M") not in page
    assert "Compte rendu validé" in page and "Ordre du jour arrêté" in page
    assert "Présent·e" in page
    assert page.index("À venir") < page.index(reunion.debut.astimezone(local).strftime("%d/%m/%Y"))
    assert page.index("Réunions passées") < page.index(
        past.debut.astimezone(local).strftime("%d/%m/%Y")
    )
    assert url("instance_detail", instance.pk) in page


def test_a_past_partner_member_sees_no_meeting_any_more(client, ex_partenaire, instance):
    reunion = ReunionFactory(instance=instance)
    Presence.objects.create(reunion=reunion, membre=MembreInstance.objects.get(user=ex_partenaire))
    client.force_login(ex_partenaire)
    response = client.get(url("mes_reunions"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "membre d'aucune instance" in html.unescape(page)
    assert "Aucune réunion à venir." in page and "Aucune réunion passée." in page


def test_a_member_of_another_role_sees_their_meetings(client, manager, reunion):
    client.force_login(manager)
    response = client.get(url("mes_reunions"))
    assert response.status_code == 200
    assert "À venir (1)" in response.content.decode()


def test_a_coordinator_not_invited_sees_no_meeting_there(client, other_coordinateur, reunion):
    client.force_login(other_coordinateur)
    response = client.get(url("mes_reunions"))
    assert response.status_code == 200
    assert "À venir (0)" in response.content.decode()


@pytest.mark.parametrize("persona", ["outsider", "ass", "admin_user"])
def test_mes_reunions_is_refused_to_who_never_was_a_member(client, request, reunion, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url("mes_reunions")).status_code == 403


def test_mes_reunions_has_a_fixed_number_of_queries(
    client, coordinateur, unit, django_assert_max_num_queries
):
    instance, membre = _fill_instance(coordinateur, unit)
    for days in range(1, 16):
        for statut, sign in (("planifiee", 1), ("cr_valide", -1)):
            reunion = ReunionFactory(
                instance=instance,
                created_by=coordinateur,
                statut=statut,
                debut=timezone.now() + sign * days * DAY,
            )
            Presence.objects.create(reunion=reunion, membre=membre)
    client.force_login(membre.user)
    with django_assert_max_num_queries(11):
        response = client.get(url("mes_reunions"))
    assert "À venir (16)" in response.content.decode()


# --- The partner account sees nothing else of the application ----------------------------------


def _argless(namespace, patterns):
    return [
        f"{namespace}:{p.name}"
        for p in patterns
        if isinstance(p, URLPattern) and p.name and not p.pattern.converters
    ]


ARGLESS = _argless("referrals", referrals_urlpatterns) + _argless("cases", cases_urlpatterns)


def test_the_walk_covers_the_main_pages():
    assert {
        "cases:dashboard",
        "cases:search",
        "cases:agenda",
        "referrals:inbox",
        "referrals:medical_list",
        "referrals:import_list",
    } <= set(ARGLESS)


@pytest.mark.parametrize("name", ARGLESS)
@pytest.mark.parametrize("persona", ["partenaire", "coordinateur"])
def test_the_partner_and_the_coordinator_get_no_page_of_the_case_workers(
    client, request, membres, saisine, name, persona
):
    client.force_login(request.getfixturevalue(persona))
    target = reverse(name)
    for method in ("get", "post"):
        response = getattr(client, method)(target)
        assert response.status_code in (302, 403, 404, 405), (name, method)
        if response.status_code == 302:
            assert not response.url.startswith(("/signalements", "/activite", "/assures")), name


@pytest.mark.parametrize("persona", ["partenaire", "coordinateur"])
def test_the_case_behind_a_situation_stays_invisible_to_the_cellule(
    client, request, membres, saisine, case, persona
):
    client.force_login(request.getfixturevalue(persona))
    for target in (
        reverse("cases:accompagnement_detail", args=[case.pk]),
        reverse("cases:plan_detail", args=[case.pk]),
        reverse("cases:evaluation_list", args=[case.pk]),
        reverse("cases:assure_detail", args=[case.assure_id]),
    ):
        assert client.get(target).status_code == 404, target


def test_the_partner_does_not_enter_the_admin(client, partenaire):
    client.force_login(partenaire)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


# --- Forms and French --------------------------------------------------------------------------


def test_every_text_field_of_the_forms_has_a_maximum_length():
    from coordination import forms_home
    from pdp.forms import FrenchChoicesMixin

    for form_class in (
        forms_home.MembreAddForm,
        forms_home.MembreEndForm,
        forms_home.ActionReportForm,
    ):
        assert _unbounded(form_class) == []
        assert form_class.__mro__[1] is FrenchChoicesMixin


def test_the_coordinator_pages_are_in_good_french(
    client, coordinateur, instance, reunion, action, ex_partenaire
):
    check_pages(
        client,
        coordinateur,
        [
            url("home"),
            url("instance_detail", instance.pk),
            url("mes_actions"),
            url("mes_actions") + "?vue=instances",
            url("mes_reunions"),
        ],
    )


def test_the_partner_pages_are_in_good_french(client, partenaire, instance, reunion, action):
    check_pages(
        client,
        partenaire,
        [reverse("home"), url("instance_detail", instance.pk), url("mes_actions")],
    )


def test_the_instance_page_lists_its_meetings_for_whoever_sees_them(
    client, coordinateur, instance, membres, membre_partenaire
):
    held = ReunionFactory(instance=instance, statut="cr_valide", created_by=coordinateur)
    other = ReunionFactory(created_by=coordinateur)  # another instance's
    client.force_login(coordinateur)
    page = client.get(url("instance_detail", instance.pk)).content.decode()
    assert reverse("coordination:reunion_detail", args=[held.pk]) in page
    assert reverse("coordination:reunion_detail", args=[other.pk]) not in page
    # A member sees only the meetings they are invited to.
    client.force_login(membre_partenaire.user)
    page = client.get(url("instance_detail", instance.pk)).content.decode()
    assert reverse("coordination:reunion_detail", args=[held.pk]) not in page
    Presence.objects.create(reunion=held, membre=membre_partenaire)
    page = client.get(url("instance_detail", instance.pk)).content.decode()
    assert reverse("coordination:reunion_detail", args=[held.pk]) in page
