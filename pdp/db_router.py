"""The database router (settings `DATABASE_ROUTERS`): the primary, `default`, for everything.

It sends nothing to the reporting replica implicitly — reads go there only through an explicit
`.using(pdp.db.reporting_alias())` (`pdp.db`) — and never writes or migrates there: a replica
is read-only, and an object read from it is saved to the primary."""

PRIMARY = "default"


class PrimaryRouter:
    def db_for_read(self, model, **hints):
        return None  # Django's own rule: the alias asked for, or the primary

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the primary's rows: a relation between them is one

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == PRIMARY
