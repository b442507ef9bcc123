"""Recording a referral by hand."""

import datetime

import pytest
import time_machine
from django.urls import reverse

from referrals.models import Assure, Origine, Signalement, SignalementEvent, Statut
from tests.factories import AssureFactory, SignalementFactory, UnitTerritoryFactory, make_nir

pytestmark = pytest.mark.django_db

URL = reverse("referrals:signalement_create")


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(datetime.datetime(2026, 3, 10, 9, 0, tzinfo=datetime.UTC), tick=False):
        yield


def _data(**overrides):
    nir = make_nir(4242)
    data = {
        "origine": Origine.CAP_EMPLOI,
        "nir": f"{nir[0]} {nir[1:3]} {nir[3:5]} {nir[5:7]} {nir[7:10]} {nir[10:13]} {nir[13:]}",
        "nom": "Lefèvre",
        "prenom": "Anne",
        "date_naissance": "1985-05-20",
        "sexe": "1",
        "code_postal": "76000",
        "commune": "Rouen",
        "telephone": "02 35 00 00 00",
        "motif": "Cap emploi signale un risque de licenciement pour inaptitude",
    }
    data.update(overrides)
    return data


def test_the_create_page_requires_login(client):
    assert client.get(URL).url == f"{reverse('login')}?next={URL}"


@pytest.mark.parametrize("who", ["regional", "medecin", "admin_user"])
def test_the_create_page_is_for_unit_staff(client, who, request):
    client.force_login(request.getfixturevalue(who))
    assert client.get(URL).status_code == 403
    assert client.post(URL, _data()).status_code == 403
    assert not Signalement.objects.exists()


@pytest.mark.parametrize("who", ["ass", "conseiller", "manager"])
def test_unit_staff_record_a_referral_for_a_new_person(client, who, request, unit):
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert "existante est reprise" in client.get(URL).content.decode()
    response = client.post(URL, _data())
    signalement = Signalement.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("referrals:signalement_detail", args=[signalement.pk])
    assert signalement.assure.nir == make_nir(4242)
    assert signalement.assure.nom_naissance == "Lefèvre"
    assert (signalement.origine, signalement.statut, signalement.unit) == (
        Origine.CAP_EMPLOI,
        Statut.NOUVEAU,
        unit,
    )
    assert signalement.date_echeance == datetime.date(2026, 4, 9)
    event = SignalementEvent.objects.get(signalement=signalement, kind="created")
    assert event.actor == user


def test_a_known_person_is_reused_and_the_page_says_so(client, ass):
    known = AssureFactory(nir=make_nir(4242), nom_naissance="Lefebvre", prenoms="Anne-Marie")
    client.force_login(ass)
    response = client.post(URL, _data(), follow=True)
    assert Assure.objects.count() == 1
    known.refresh_from_db()
    assert known.nom_naissance == "Lefebvre"
    assert Signalement.objects.get().assure == known
    assert "les champs d&#x27;identité saisis ont été ignorés" in response.content.decode()


def test_an_invalid_nir_is_shown_next_to_the_field(client, ass):
    client.force_login(ass)
    response = client.post(URL, _data(nir="1 85 05 76 004 242 00"))
    assert response.status_code == 200
    assert response.context["form"].errors["nir"] == ["Clé du NIR invalide."]
    assert response.context["form"]["nom"].value() == "Lefèvre"  # input kept
    assert not Assure.objects.exists()


def test_an_incoherent_nir_is_refused(client, ass):
    client.force_login(ass)
    response = client.post(URL, _data(sexe="2"))
    assert response.status_code == 200
    assert "sexe indiqué est féminin" in response.context["form"].errors["nir"][0]
    assert not Signalement.objects.exists()


def test_an_open_referral_is_named_in_the_refusal(client, ass, unit):
    existing = SignalementFactory(
        assure=AssureFactory(nir=make_nir(4242)), unit=unit, statut=Statut.A_CONTACTER
    )
    client.force_login(ass)
    response = client.post(URL, _data())
    assert response.status_code == 200
    page = response.content.decode()
    assert "déjà en cours" in page
    assert f"{existing.date_signalement:%d/%m/%Y}" in page
    assert Signalement.objects.count() == 1


def test_a_referral_routed_to_another_unit_sends_back_to_the_inbox(client, ass, other_unit):
    UnitTerritoryFactory(unit=other_unit, prefix="76")
    client.force_login(ass)
    response = client.post(URL, _data())
    assert response.status_code == 302
    assert response.url == reverse("referrals:inbox")
    assert Signalement.objects.get().unit == other_unit


def test_a_person_followed_in_another_unit_is_refused_without_disclosing_where(
    client, ass, outsider
):
    """The NIR of someone followed in Caen, typed in Rouen: refused, no unit, name or date."""
    from tests.factories import SignalementFactory

    followed = SignalementFactory(unit=outsider.unit, assigned_to=outsider)
    # A name no random staff name can contain (a user « Célina François » once matched).
    type(followed.assure).objects.filter(pk=followed.assure_id).update(nom_naissance="Xylandre")
    followed.assure.refresh_from_db()
    client.force_login(ass)
    response = client.post(
        reverse("referrals:signalement_create"),
        {"origine": "spst", "nir": followed.assure.nir, "motif": "Appel du SPST"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "déjà l&#x27;objet d&#x27;un suivi" in html or "déjà l'objet d'un suivi" in html
    assert str(outsider.unit) not in html
    assert followed.assure.nom_naissance not in html
    assert followed.date_signalement.strftime("%d/%m/%Y") not in html
