from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection


@pytest.mark.skipif(connection.vendor == "postgresql", reason="Vérifie le refus hors PostgreSQL.")
def test_the_benchmark_refuses_to_run_without_postgresql():
    with pytest.raises(CommandError, match="exige PostgreSQL"):
        call_command("bench_referrals", "--rows", "10", "--arrets", "100")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_benchmark_works_in_a_throwaway_database_and_drops_it():
    name = connection.settings_dict["NAME"]
    out = StringIO()

    call_command("bench_referrals", "--rows", "40", "--arrets", "400", stdout=out)

    text = out.getvalue()
    assert "1. Import CPAM : 40 lignes" in text
    assert "créés 40, rejetés 0" in text
    assert "2. Détection : 400 arrêts" in text
    assert "3. Second scan sans nouveauté" in text
    assert connection.settings_dict["NAME"] == name
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM pg_database WHERE datname = %s", [f"{name}_bench"])
        assert cursor.fetchone()[0] == 0
