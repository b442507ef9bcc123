import pytest
from django.contrib import admin
from django.urls import reverse

pytestmark = pytest.mark.django_db

REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name) for model in admin.site._registry
)


def test_every_domain_model_is_in_the_admin():
    from django.apps import apps

    for app_label in ("pdp", "referrals", "cases"):
        for model in apps.get_app_config(app_label).get_models():
            assert model in admin.site._registry, f"{model.__name__} absent de l'admin"


@pytest.mark.parametrize(("app_label", "model_name"), REGISTERED)
def test_each_changelist_and_add_page_renders_for_a_superuser(
    client, admin_user, app_label, model_name
):
    client.force_login(admin_user)
    changelist = client.get(reverse(f"admin:{app_label}_{model_name}_changelist") + "?q=1")
    assert changelist.status_code == 200
    add = client.get(reverse(f"admin:{app_label}_{model_name}_add"))
    # Read-only logs have no add page (403), every other model has one.
    assert add.status_code == (403 if model_name in ("auditlog", "detectionrun") else 200)


def test_the_admin_is_refused_to_other_roles_even_with_the_staff_flag(client, manager):
    manager.is_staff = True
    manager.save()
    client.force_login(manager)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_the_person_changelist_searches_by_nir(client, admin_user):
    from tests.factories import AssureFactory

    wanted, other = AssureFactory(), AssureFactory()
    client.force_login(admin_user)
    response = client.get(reverse("admin:referrals_assure_changelist"), {"q": wanted.nir})
    assert wanted.nom_naissance in response.content.decode()
    assert other.nir not in response.content.decode()
