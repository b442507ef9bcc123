"""A closure and a change that adds work to the case at the same time (real PostgreSQL
connections in threads): the second one waits for the first and sees what it did, so a
closed case never keeps a dispositif en cours nor a meeting planned after the closure."""

import datetime
import threading
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cases import agenda, services
from cases import dispositifs as rules
from cases.models import (
    Accompagnement,
    CaseStatus,
    DispositifMobilise,
    DispositifType,
    Entretien,
)
from tests.factories import AccompagnementFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

WAIT = 0.5  # seconds the second transaction is given to (wrongly) get through


def in_thread(target, errors):
    def run():
        try:
            target()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


@pytest.fixture
def case(ass):
    return AccompagnementFactory(referent=ass, date_ouverture=timezone.localdate())


@pytest.fixture
def accorde(case, ass):
    # Loaded by a data migration, but emptied by the truncation of other transactional tests.
    rqth, _ = DispositifType.objects.get_or_create(
        code="rqth", defaults={"label": "RQTH / MDPH", "phase": DispositifType.Phase.TOUT}
    )
    return rules.dispositif_create(
        accompagnement=case, acting_user=ass, type=rqth, statut="accorde"
    )


def close(case, ass):
    services.case_close(
        accompagnement=case, acting_user=ass, outcome="autre", date_cloture=timezone.localdate()
    )


def fresh(case):
    """The case as another request would have read it, before the other change."""
    return Accompagnement.objects.get(pk=case.pk)


def run_second_while_first_is_open(first, second):
    """Run ``first`` in a transaction; start ``second`` in a thread before the commit."""
    errors = []
    thread = in_thread(second, errors)
    with transaction.atomic():
        first()
        thread.start()
        time.sleep(WAIT)
        still_waiting = thread.is_alive()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return still_waiting, errors


def test_a_dispositif_started_during_the_closure_waits_then_is_refused(case, ass, accorde):
    dispositif = DispositifMobilise.objects.select_related("accompagnement").get(pk=accorde.pk)

    def start():
        rules.dispositif_change_status(dispositif=dispositif, acting_user=ass, to_status="en_cours")

    still_waiting, errors = run_second_while_first_is_open(lambda: close(case, ass), start)

    assert still_waiting
    [error] = errors
    assert isinstance(error, ValidationError)
    assert "L'accompagnement est clôturé" in error.messages[0]
    accorde.refresh_from_db()
    assert accorde.statut == "accorde"
    assert fresh(case).statut == CaseStatus.CLOTURE


def test_a_closure_during_the_start_of_a_dispositif_waits_then_is_refused(case, ass, accorde):
    stale = fresh(case)

    def start():
        rules.dispositif_change_status(dispositif=accorde, acting_user=ass, to_status="en_cours")

    still_waiting, errors = run_second_while_first_is_open(start, lambda: close(stale, ass))

    assert still_waiting
    [error] = errors
    assert isinstance(error, ValidationError)
    assert "Un dispositif est encore en cours : RQTH / MDPH" in error.messages[0]
    assert fresh(case).statut == CaseStatus.OUVERT


def test_a_meeting_planned_during_the_closure_waits_then_is_refused(case, ass):
    stale = fresh(case)
    debut = timezone.now().replace(microsecond=0) + datetime.timedelta(days=2)

    def schedule():
        agenda.entretien_schedule(
            accompagnement=stale, acting_user=ass, debut=debut, mode="telephone"
        )

    still_waiting, errors = run_second_while_first_is_open(lambda: close(case, ass), schedule)

    assert still_waiting
    [error] = errors
    assert isinstance(error, ValidationError)
    assert "L'accompagnement est clôturé" in error.messages[0]
    assert not Entretien.objects.exists()
