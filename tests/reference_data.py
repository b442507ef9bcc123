"""The reference rows that data migrations load (collective's types, themes and participant
statuses; outreach's questionnaires): a transactional test's truncation empties their tables,
so a test that needs them after one loads them again with `reload()` (idempotent)."""

import importlib

LOADERS = [
    ("collective.migrations.0002_reference_data", "load"),
    ("outreach.migrations.0003_surveys", "seed_questionnaires"),
]


def reload():
    from django.apps import apps

    for module, function in LOADERS:
        getattr(importlib.import_module(module), function)(apps, None)
