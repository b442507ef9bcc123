from django.apps import AppConfig


class CoordinationConfig(AppConfig):
    name = "coordination"
    verbose_name = "Cellule PDP"

    def ready(self):
        from cases.extensions import consent_revoked, register_case_panel
        from coordination import panels, services

        consent_revoked.connect(services.on_consent_revoked, dispatch_uid="coordination-consent")
        register_case_panel(panels.case_panel)
