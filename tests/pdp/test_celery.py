import os

import pytest

from pdp.celery import app
from pdp.tasks import health_check


def test_every_periodic_schedule_names_a_registered_task():
    app.loader.import_default_modules()
    for name, entry in app.conf.beat_schedule.items():
        assert entry["task"] in app.tasks, f"{name}: tâche inconnue {entry['task']}"


def test_the_health_check_runs_eagerly_in_tests(db):
    result = health_check.delay()
    assert result.get(timeout=5)["db"] is True


@pytest.mark.celery_worker
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="REDIS_URL absent : pas de broker")
def test_a_task_runs_through_redis_and_a_real_worker(transactional_db):
    from celery.contrib.testing.worker import start_worker

    assert app.conf.broker_url.startswith("redis://")
    assert not app.conf.task_always_eager
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = health_check.delay()
        payload = result.get(timeout=20)
    assert payload["db"] is True
    assert result.status == "SUCCESS"
