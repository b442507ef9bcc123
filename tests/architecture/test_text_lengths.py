"""Every text a person types has a bounded length (a clear French message beyond it), so that no
form accepts megabytes of text: every CharField of every form of the project has a max_length,
and every TextField of the models too (Django passes it to the model forms)."""

import importlib
import pkgutil

import pytest
from django import forms
from django.apps import apps
from django.db import models

APPS = ("pdp", "referrals", "cases")


def _form_classes():
    for app in APPS:
        package = importlib.import_module(app)
        for info in pkgutil.iter_modules(package.__path__):
            if "form" in info.name:
                importlib.import_module(f"{app}.{info.name}")
    seen, stack = set(), [forms.BaseForm]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                stack.append(sub)
    return sorted(
        (c for c in seen if c.__module__.split(".")[0] in APPS), key=lambda c: c.__qualname__
    )


def _unbounded(form_class):
    fields = dict(getattr(form_class, "base_fields", {}))
    return [
        name
        for name, field in fields.items()
        if isinstance(field, forms.CharField)
        and not isinstance(field, forms.EmailField | forms.URLField)
        and not field.max_length
    ]


@pytest.mark.parametrize(
    "form_class", _form_classes(), ids=lambda c: f"{c.__module__}.{c.__name__}"
)
def test_every_text_field_of_a_form_has_a_maximum_length(form_class):
    assert _unbounded(form_class) == []


def test_every_text_field_of_the_models_has_a_maximum_length():
    unbounded = [
        f"{model.__name__}.{field.name}"
        for app in APPS
        for model in apps.get_app_config(app).get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.TextField) and not field.max_length
    ]
    assert unbounded == []
