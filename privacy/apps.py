from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Data protection over every app: the retention catalogue and the anonymisation job, the
    right of access (RGPD art. 15). It sits above every other app because it reads and removes
    what all of them hold about a person."""

    name = "privacy"
    verbose_name = "Protection des données"

    def ready(self):
        # retention: registers its system check (the inactivity outlasts the indicators'
        # recomputed months).
        from privacy import retention  # noqa: F401
