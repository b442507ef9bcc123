import pytest

from tests.factories import UnitFactory, UserFactory


@pytest.fixture(autouse=True)
def _strict_templates(settings):
    """Fail on undefined template variables (as les-emplois does)."""

    class InvalidVarException(str):
        def __mod__(self, other):
            raise AssertionError(f"Variable de gabarit indéfinie : {other}")

        def __bool__(self):  # `{% if missing %}` stays falsy without failing
            return False

    for template in settings.TEMPLATES:
        template["OPTIONS"]["string_if_invalid"] = InvalidVarException("%s")


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Tasks run in-process in tests, except in the tests that start a real worker."""
    from pdp.celery import app

    if "celery_worker" in request.keywords:
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def unit(db):
    return UnitFactory()


@pytest.fixture
def other_unit(db, unit):
    return UnitFactory(region=unit.region)


@pytest.fixture
def ass(unit):
    return UserFactory(ass=True, unit=unit)


@pytest.fixture
def colleague(unit):
    return UserFactory(ass=True, unit=unit)


@pytest.fixture
def manager(unit):
    return UserFactory(manager=True, unit=unit)


@pytest.fixture
def conseiller(unit):
    return UserFactory(conseiller=True, unit=unit)


@pytest.fixture
def outsider(other_unit):
    return UserFactory(ass=True, unit=other_unit)


@pytest.fixture
def medecin(unit):
    return UserFactory(medecin=True, region=unit.region)


@pytest.fixture
def regional(unit):
    return UserFactory(regional=True, region=unit.region)


@pytest.fixture
def admin_user(db):
    return UserFactory(admin=True)


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="Ce test exige PostgreSQL (DATABASE_URL=postgres://…).")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def share_case():
    """share_case(case, user): the référent shares the case's content with `user` for 30 days."""
    import datetime

    from django.utils import timezone

    from cases import services

    def share(case, user, days=30):
        return services.case_share(
            accompagnement=case,
            acting_user=case.referent,
            user=user,
            reason="absence",
            date_fin=timezone.localdate() + datetime.timedelta(days=days),
        )

    return share
