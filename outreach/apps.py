from django.apps import AppConfig


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = "Prise de rendez-vous et contacts"

    def ready(self):
        from cases.extensions import case_opened, first_meeting_planned, register_case_panel
        from collective.signals import action_cancelled, action_finished, participant_promoted
        from outreach import booking, campaign_sending, panels, surveys, webinars
        from referrals.hooks import register_referral_action

        first_meeting_planned.connect(
            booking.on_first_meeting_planned, dispatch_uid="outreach-manage-codes"
        )
        action_finished.connect(surveys.on_action_finished, dispatch_uid="outreach-surveys")
        action_cancelled.connect(
            webinars.on_action_cancelled, dispatch_uid="outreach-action-cancelled"
        )
        participant_promoted.connect(
            webinars.on_participant_promoted, dispatch_uid="outreach-webinar-promoted"
        )
        case_opened.connect(
            campaign_sending.on_case_opened, dispatch_uid="outreach-campaign-case-opened"
        )
        register_case_panel(panels.case_panel)
        register_referral_action(panels.referral_action)
