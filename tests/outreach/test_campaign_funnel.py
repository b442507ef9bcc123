"""The campaign funnel: each stage per channel, the total, the rates, one query whatever the
population, the section and its CSV export (404 / 403, audited), the warning when the SMS
provider's delivery reports stop coming."""

import csv
import datetime
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import Entretien
from collective.models import ActionType, Participant, ParticipantStatus, Presence
from outreach import campaign_funnel, campaigns
from outreach.models import AppelCible, Campagne, Cible
from pdp.models import AuditLog, Message, Region
from tests import reference_data
from tests.factories import (
    AccompagnementFactory,
    ActionCollectiveFactory,
    SeanceFactory,
    SignalementFactory,
    UnitFactory,
    UserFactory,
)
from tests.outreach import test_campaigns as base
from tests.outreach.test_campaigns import (
    DAY,
    MOBILE,
    NOW,
    campagne_for,
    person,
    simulate,
    target,
    years_before,
)

# The fixtures of the first step's tests: a region, its unit (Seine-Maritime), its manager,
# the region's own channel rules.
region, unit, manager, rules = base.region, base.unit, base.manager, base.rules

YOUNG = years_before(DAY, 25)
ADDRESS = "1 rue Jeanne d'Arc"


def message(channel="sms", status="sent", delivery="", sent_at=NOW, received=None):
    return Message.objects.create(
        channel=channel,
        template="campagne",
        recipient=MOBILE if channel == "sms" else "x@example.org",
        body="Bonjour",
        status=status,
        sent_at=sent_at if status == "sent" else None,
        provider_id="p" if channel == "sms" else "",
        delivery_status=delivery,
        delivery_at=received,
        delivery_received_at=received,
    )


def set_target(cible, **fields):
    Cible.objects.filter(pk=cible.pk).update(**fields)


def validated(manager, webinaire=None):
    """Simulated and validated; the webinar invitations need a webinar to validate (one
    without sessions when the test does not care)."""
    c = simulate(campagne_for(manager), manager)
    if webinaire is None:
        webinaire = ActionCollectiveFactory(type=ActionType.objects.get(code="webinaire"))
    Campagne.objects.filter(pk=c.pk).update(webinaire=webinaire)
    return campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)


def case_with_meetings(assure, unit, *statuses):
    """A referral and the accompagnement opened from it, with meetings one day apart."""
    sig = SignalementFactory(assure=assure, unit=unit)
    case = AccompagnementFactory(
        assure=assure, referent=UserFactory(ass=True, unit=unit), signalement=sig
    )
    for i, statut in enumerate(statuses):
        Entretien.objects.create(
            accompagnement=case,
            debut=NOW - datetime.timedelta(days=10 - i),
            ass=case.referent,
            mode="sur_place",
            statut=statut,
        )
    return sig


@pytest.fixture
def webinar(unit):
    reference_data.reload()
    action = ActionCollectiveFactory(
        type=ActionType.objects.get(code="webinaire"),
        animateur=UserFactory(ass=True, unit=unit),
        unit=None,
    )
    SeanceFactory(action=action)
    return action


def enrol(action, assure, code, present=False):
    participant = Participant.objects.create(
        action=action, assure=assure, statut=ParticipantStatus.objects.get(code=code), source="code"
    )
    if present:
        Presence.objects.create(
            seance=action.seances.first(),
            participant=participant,
            statut="present",
            recorded_by=action.animateur,
        )
    return participant


@pytest.fixture
def scenario(manager, rules, unit, webinar):
    """Two or three people per channel (rules of test_campaigns) at various stages."""
    p = {
        "sms1": person(born=YOUNG, telephone=MOBILE),
        "sms2": person(born=YOUNG, telephone=MOBILE),
        "sms3": person(born=YOUNG, telephone=MOBILE),
        "appel1": person(days=200, telephone="02 35 11 22 33"),
        "appel2": person(days=200, telephone="02 35 11 22 44"),
        "web1": person(ij=70, email="w1@example.org"),
        "web2": person(ij=70, email="w2@example.org"),
        "mail1": person(email="m1@example.org"),
        "mail2": person(email="m2@example.org"),
        "lettre1": person(adresse=ADDRESS),
        "lettre2": person(adresse=ADDRESS),
        "rien": person(),
    }
    c = validated(manager, webinaire=webinar)
    t = {k: target(c, a) for k, a in p.items()}
    assert t["appel1"].canal == "appel" and t["web1"].canal == "webinaire"
    assert t["rien"].canal == "aucun" and t["lettre1"].canal == "courrier"
    sent = {"envoye_le": NOW}
    # SMS: delivered, opened, booked, came, case opened / not delivered / not sent
    set_target(
        t["sms1"],
        **sent,
        message=message(delivery="delivered"),
        ouvert_le=NOW,
        rdv_pris_le=NOW,
        signalement=case_with_meetings(p["sms1"], unit, "annule", "realise"),
    )
    set_target(t["sms2"], **sent, message=message(delivery="undelivered"))
    # Calls: reached on an earlier call (last result « pas de réponse »), booked / wrong number
    set_target(t["appel1"], tentatives=2, dernier_resultat="pas_de_reponse", rdv_pris_le=NOW)
    AppelCible.objects.create(cible=t["appel1"], at=NOW, conseiller=manager, resultat="rappeler")
    set_target(t["appel2"], tentatives=1, dernier_resultat="faux_numero")
    AppelCible.objects.create(cible=t["appel2"], at=NOW, conseiller=manager, resultat="faux_numero")
    # Webinar: registered and present / registration cancelled
    set_target(t["web1"], **sent, message=message("email"), ouvert_le=NOW)
    enrol(webinar, p["web1"], "present", present=True)
    set_target(t["web2"], **sent, message=message("email"))
    enrol(webinar, p["web2"], "annule")
    # E-mail: handed over and opened / failed
    set_target(t["mail1"], **sent, message=message("email"), ouvert_le=NOW)
    set_target(t["mail2"], **sent, message=message("email", status="failed"))
    # Letter: sent, opened, booked, missed the first meeting (held later), case opened
    set_target(
        t["lettre1"],
        **sent,
        ouvert_le=NOW,
        rdv_pris_le=NOW,
        signalement=case_with_meetings(p["lettre1"], unit, "absent", "realise"),
    )
    return c


def counts(rows):
    return {row.canal: [s.count for s in row.stages] for row in rows}


def test_each_stage_per_channel_and_in_total(scenario):
    rows = campaign_funnel.funnel(scenario)
    assert [row.canal for row in rows] == [
        "appel",
        "sms",
        "email",
        "courrier",
        "webinaire",
        "total",
    ]
    # ciblés, envoyés, délivrés, lien ouvert, rdv pris, rdv honoré, accompagnement ouvert
    assert counts(rows) == {
        "appel": [2, 2, 1, None, 1, 0, 0],
        "sms": [3, 2, 1, 1, 1, 1, 1],
        "email": [2, 2, 1, 1, 0, 0, 0],
        "courrier": [2, 1, 1, 1, 1, 0, 1],
        "webinaire": [2, 2, 2, 1, 1, 1, 0],
        "total": [11, 9, 6, 4, 4, 2, 2],
    }


def test_rates_are_in_percent_of_targets_in_french(scenario):
    rows = campaign_funnel.funnel(scenario)
    sms = rows[1].stages
    assert sms[0].rate_fr == "100\u00a0%"
    assert sms[1].rate_fr == "66,7\u00a0%"
    assert sms[1].bar_width == "66.7%"
    assert rows[0].stages[3].rate_fr == "—"  # appel: no link
    assert campaign_funnel.percent_fr(12.5) == "12,5\u00a0%"
    assert campaign_funnel.percent_fr(0) == "0\u00a0%"
    assert campaign_funnel.percent_fr(99.96) == "100\u00a0%"


def test_excluded_targets_and_channel_aucun_are_left_out(manager, rules, unit):
    person(email="a@example.org")
    followed = person(email="b@example.org")
    SignalementFactory(assure=followed, unit=unit)
    person()  # aucun
    c = validated(manager)
    assert Cible.objects.filter(campagne=c).count() == 3
    rows = campaign_funnel.funnel(c)
    assert counts(rows)["total"][0] == 1
    assert counts(rows)["email"][0] == 1


def test_sms_sent_but_only_pending_at_the_provider_is_not_delivered(manager, rules):
    young = person(born=YOUNG, telephone=MOBILE)
    c = validated(manager)
    set_target(target(c, young), envoye_le=NOW, message=message(delivery="pending"))
    assert counts(campaign_funnel.funnel(c))["sms"][:3] == [1, 1, 0]


def _funnel_queries(manager, n):
    for i in range(n):
        person(born=YOUNG, telephone=MOBILE)
        person(email=f"p{n}-{i}@example.org")
    c = validated(manager)
    sms = list(Cible.objects.filter(campagne=c, canal="sms"))
    for cible in sms:
        set_target(cible, envoye_le=NOW, message=message(delivery="delivered"), ouvert_le=NOW)
    with CaptureQueriesContext(connection) as ctx:
        rows = campaign_funnel.funnel(c)
    assert len(sms) >= n
    assert counts(rows)["sms"][:4] == [len(sms)] * 4
    Campagne.objects.filter(pk=c.pk).delete()
    return len(ctx.captured_queries)


def test_funnel_is_one_query_whatever_the_population(manager, rules):
    assert _funnel_queries(manager, 2) == _funnel_queries(manager, 20) == 1


# --- Page and CSV ------------------------------------------------------------------------------


def test_section_shows_on_a_validated_campaign_only(client, manager, rules):
    person(email="a@example.org")
    c = simulate(campagne_for(manager), manager)
    client.force_login(manager)
    page = client.get(reverse("outreach:campaign_detail", args=[c.pk])).content.decode()
    assert "Entonnoir" not in page
    campaigns.campagne_validate(campagne=c, acting_user=manager, now=NOW)
    page = client.get(reverse("outreach:campaign_detail", args=[c.pk])).content.decode()
    assert "Entonnoir" in page and "Exporter (CSV)" in page
    assert "Rendez-vous honoré" in page
    assert reverse("outreach:campaign_funnel_csv", args=[c.pk]) in page


def _page_queries(client, manager, django_assert_max_num_queries, n):
    for _ in range(n):
        person(born=YOUNG, telephone=MOBILE)
    c = validated(manager)
    for cible in Cible.objects.filter(campagne=c):
        set_target(cible, envoye_le=NOW, message=message(delivery="delivered"))
    client.force_login(manager)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(reverse("outreach:campaign_detail", args=[c.pk])).status_code == 200
    with django_assert_max_num_queries(14):
        client.get(reverse("outreach:campaign_detail", args=[c.pk]))
    Campagne.objects.filter(pk=c.pk).delete()
    return len(ctx.captured_queries)


def test_page_queries_do_not_depend_on_the_population(
    client, manager, rules, django_assert_max_num_queries
):
    small = _page_queries(client, manager, django_assert_max_num_queries, 2)
    large = _page_queries(client, manager, django_assert_max_num_queries, 20)
    assert small == large


def test_csv_export_has_a_row_per_channel_and_the_total_and_is_audited(client, manager, scenario):
    client.force_login(manager)
    response = client.get(reverse("outreach:campaign_funnel_csv", args=[scenario.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    raw = response.content.decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw[1:]), delimiter=";"))
    assert rows[0] == [
        "Canal",
        "Ciblés",
        "Envoyés",
        "Délivrés",
        "Lien ouvert",
        "Rendez-vous pris",
        "Rendez-vous honoré",
        "Accompagnement ouvert",
    ]
    assert rows[1] == ["Appel par un conseiller", "2", "2", "1", "", "1", "0", "0"]
    assert rows[-1] == ["Total", "11", "9", "6", "4", "4", "2", "2"]
    assert len(rows) == 7
    log = AuditLog.objects.get(action="export", object_type="outreach.campagne")
    assert log.user == manager and log.object_id == str(scenario.pk)


def test_csv_export_404_for_another_region_403_for_other_staff(client, manager, rules, unit):
    person(email="a@example.org")
    c = validated(manager)
    url = reverse("outreach:campaign_funnel_csv", args=[c.pk])
    assert client.get(url).status_code == 302  # anonymous → login
    other_region = Region.objects.create(code="BRE", name="CARSAT Bretagne")
    client.force_login(UserFactory(manager=True, unit=UnitFactory(region=other_region)))
    assert client.get(url).status_code == 404
    client.force_login(UserFactory(ass=True, unit=unit))
    assert client.get(url).status_code == 403
    client.force_login(UserFactory(regional=True, region=unit.region))  # reads the campaign
    assert client.get(url).status_code == 200
    assert not AuditLog.objects.filter(action="export", user__role="ass").exists()


# --- Delivery reports that stop coming ---------------------------------------------------------


@pytest.fixture
def sms_campaign(manager, rules):
    young = person(born=YOUNG, telephone=MOBILE)
    other = person(born=YOUNG, telephone=MOBILE)
    c = validated(manager)
    return c, target(c, young), target(c, other)


HOUR = datetime.timedelta(hours=1)


def stale(c, now):
    return campaign_funnel.delivery_reports_stale(c, now)


def test_warning_when_sms_sent_long_ago_got_no_report(sms_campaign, settings):
    settings.DELIVERY_REPORT_STALE_HOURS = 4
    c, first, second = sms_campaign
    set_target(first, envoye_le=NOW, message=message(sent_at=NOW))
    assert stale(c, NOW + 3 * HOUR) is None  # not long enough
    assert stale(c, NOW + 5 * HOUR) == NOW
    settings.DELIVERY_REPORT_STALE_HOURS = 6
    assert stale(c, NOW + 5 * HOUR) is None


def test_no_warning_when_reports_keep_coming_or_all_came(sms_campaign):
    c, first, second = sms_campaign
    set_target(first, envoye_le=NOW, message=message(sent_at=NOW))
    # another message of the campaign (a reminder) got a report an hour ago
    reported = message(sent_at=NOW, delivery="delivered", received=NOW + 4 * HOUR)
    set_target(second, envoye_le=NOW, relance_message=reported)
    assert stale(c, NOW + 5 * HOUR) is None
    assert stale(c, NOW + 9 * HOUR) == NOW + 4 * HOUR  # then nothing for 5 hours
    # every SMS has its report: nothing to wait for
    Message.objects.filter(delivery_status="").update(
        delivery_status="undelivered", delivery_received_at=NOW + HOUR
    )
    assert stale(c, NOW + 9 * HOUR) is None


def test_no_warning_for_sms_of_other_campaigns_or_not_sent(sms_campaign, manager):
    c, first, second = sms_campaign
    set_target(first, message=message(status="queued"))
    assert stale(c, NOW + 9 * HOUR) is None
    set_target(second, envoye_le=NOW, message=message("email"))
    assert stale(c, NOW + 9 * HOUR) is None


def test_warning_is_on_the_campaign_page(client, manager, sms_campaign, time_machine):
    c, first, _ = sms_campaign
    set_target(first, envoye_le=NOW, message=message(sent_at=NOW))
    time_machine.move_to(NOW + 5 * HOUR, tick=False)
    client.force_login(manager)
    page = client.get(reverse("outreach:campaign_detail", args=[c.pk])).content.decode()
    assert "Aucun accusé de réception de l'opérateur depuis le 1 mars 2027 à 8 h 00" in page
    assert "vérifiez la configuration des accusés SMS" in page
