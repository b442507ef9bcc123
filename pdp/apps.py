from django.apps import AppConfig


class PdpConfig(AppConfig):
    name = "pdp"
    verbose_name = "Organisation et utilisateurs"

    def ready(self):
        from pdp import session_idle

        session_idle.connect()
