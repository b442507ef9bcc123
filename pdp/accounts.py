"""Changes of a user's own account made from the application (the admin has its own audit)."""

from django.db import transaction

from pdp.admin_base import MASKED
from pdp.audit import audit
from pdp.models import AuditLog


@transaction.atomic
def user_password_change(*, user, new_password, acting_user):
    """Set `user`'s password; the audit row says that it changed, never the value or hash."""
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit(
        user=acting_user,
        action=AuditLog.Action.UPDATE,
        obj=user,
        changes={"password": [MASKED, MASKED]},
    )
