from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = "Prise de rendez-vous et contacts"

    def ready(self):
        from cases.extensions import register_case_panel
        from outreach import panels
        from referrals.hooks import register_referral_action

        register_case_panel(panels.case_panel)
        register_referral_action(panels.referral_action)
