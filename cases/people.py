"""Changes to a person's contact and employment details, audited field by field."""

from django.db import transaction

from pdp.audit import audit, field_changes
from pdp.models import AuditLog
from referrals.models import Assure

# What unit staff may correct on the person's page. Identity (NIR, names, birth date) comes
# from the CPAM and is not edited here.
EDITABLE_FIELDS = (
    "adresse",
    "code_postal",
    "commune",
    "telephone",
    "email",
    "canal_prefere",
    "rappels",
    "pas_de_sms",
    "pas_de_relance",
    "situation_emploi",
    "employeur_nom",
    "employeur_siret",
    "poste",
    "rqth",
    "spst",
)


@transaction.atomic
def assure_update(*, assure, acting_user, data):
    """Apply `data` (a subset of EDITABLE_FIELDS); audit {field: [old, new]}. Returns changes."""
    unknown = set(data) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Champs non modifiables : {', '.join(sorted(unknown))}")
    assure = Assure.objects.select_for_update().get(pk=assure.pk)
    changes = field_changes(assure, data)
    if not changes:
        return {}
    assure.full_clean(exclude=[f.name for f in Assure._meta.fields if f.name not in changes])
    assure.save(update_fields=[*changes, "updated_at"])
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=assure,
        assure_id=assure.pk,
        changes=changes,
    )
    return changes
