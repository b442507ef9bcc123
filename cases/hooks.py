"""The answers cases gives the referral engine (see `referrals.hooks`), registered at start-up."""

from django.db.models import Count, Exists, Q

from cases.agenda import entretien_conflict_label
from cases.models import Accompagnement, CaseStatus, visible_case_conditions
from referrals.hooks import (
    OpenFollowup,
    register_assure_visibility,
    register_meeting_conflict,
    register_open_followup,
)


def _assure_visible_through_cases(user):
    """Whoever sees one of a person's accompagnements sees the person."""
    cases = Accompagnement.objects.values("assure_id")
    return [cases.filter(condition) for condition in visible_case_conditions(user)]


class OpenCase(OpenFollowup):
    def exists(self, assure_ref):
        return Exists(Accompagnement.objects.open().filter(assure_id=assure_ref))

    def first_for(self, assure):
        return Accompagnement.objects.open().filter(assure=assure).select_related("unit").first()

    def exists_sql(self, assure_column):
        table = Accompagnement._meta.db_table
        # Only our own identifiers and enum values end up in this SQL, never user input.
        return (
            f"EXISTS (SELECT 1 FROM {table} k WHERE k.assure_id = {assure_column}"
            f" AND k.statut <> '{CaseStatus.CLOTURE}')"
        )

    def load(self):
        return Count(
            "accompagnements", filter=~Q(accompagnements__statut=CaseStatus.CLOTURE), distinct=True
        )


def register():
    register_assure_visibility(_assure_visible_through_cases)
    register_open_followup(OpenCase())
    register_meeting_conflict(entretien_conflict_label)
