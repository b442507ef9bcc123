from django.apps import AppConfig


class CollectiveConfig(AppConfig):
    name = "collective"
    verbose_name = "Actions collectives"
