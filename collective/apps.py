from django.apps import AppConfig


class CollectiveConfig(AppConfig):
    name = "collective"
    verbose_name = "Actions collectives"

    def ready(self):
        from collective.attendance import on_action_finished
        from collective.signals import action_finished

        # « A participé » for who attended, when the action finishes (collective.attendance).
        action_finished.connect(on_action_finished, dispatch_uid="collective_settle_participants")
