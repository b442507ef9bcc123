import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from cases.models import Accompagnement, CaseStatus
from pdp.models import Role, User
from referrals.models import ArretTravail, Assure, Signalement, Statut


def _counts():
    return {
        "users": User.objects.count(),
        "assures": Assure.objects.count(),
        "arrets": ArretTravail.objects.count(),
        "signalements": Signalement.objects.count(),
        "accompagnements": Accompagnement.objects.count(),
    }


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_covers_every_status(client):
    call_command("seed_demo", stdout=io.StringIO())
    first = _counts()
    call_command("seed_demo", stdout=io.StringIO())
    assert _counts() == first

    assert first["assures"] == 300
    assert {u.role for u in User.objects.all()} == set(Role.values)
    durations = [a.duree_au() for a in ArretTravail.objects.all()]
    assert min(durations) <= 15 and max(durations) >= 390
    social = set(Signalement.objects.filter(service="social").values_list("statut", flat=True))
    medical_statuses = {Statut.TRANSMIS, Statut.CLASSE}
    assert social == set(Statut.values) - medical_statuses
    assert set(Accompagnement.objects.values_list("statut", flat=True)) == set(CaseStatus.values)
    assert Signalement.objects.filter(unit__isnull=True, service="social").exists()

    # Through the login page: the axes backend needs the request (client.login gives none).
    response = client.post(reverse("login"), {"username": "ass.rouen", "password": "demo-pdp-2026"})
    assert response.status_code == 302
    assert response.wsgi_request.user.username == "ass.rouen"


@pytest.mark.django_db
def test_the_demo_conseiller_has_a_call_list_and_handed_one_referral_over(client):
    from django.urls import reverse
    from django.utils import timezone

    call_command("seed_demo", stdout=io.StringIO())
    conseiller = User.objects.get(username="conseiller.rouen")
    calls = Signalement.objects.open().filter(assigned_to=conseiller)
    assert calls.filter(date_echeance__lt=timezone.localdate()).exists()  # some overdue
    assert calls.filter(date_echeance__gte=timezone.localdate()).exists()  # and others
    handed = Signalement.objects.get(rdv_par=conseiller)
    assert handed.assigned_to.username == "ass.rouen"
    assert handed.statut == Statut.RENCONTRE_PROPOSEE
    assert handed.rdv_debut > timezone.now()

    client.force_login(conseiller)
    rows = client.get(reverse("cases:dashboard")).context["referrals"]["rows"]
    assert {s.pk for s in rows} == set(calls.values_list("pk", flat=True))
    client.force_login(User.objects.get(username="ass.rouen"))
    rows = client.get(reverse("cases:dashboard")).context["referrals"]["rows"]
    assert handed in rows
