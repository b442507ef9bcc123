"""Meetings of one ASS never overlap: a PostgreSQL exclusion constraint over the planned meetings.

The services check the slot first and say which meeting is in the way (cases.agenda); the
constraint makes the rule hold whatever runs at the same time (two bookings, the booking by the
assuré that comes next). `debut + duree_minutes` minutes does not depend on the time zone, so the
end is wrapped in an IMMUTABLE function, as an index expression requires. PostgreSQL only: on
SQLite (the `make run` default) the services' check alone applies.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS btree_gist",
    """
    CREATE OR REPLACE FUNCTION pdp_meeting_end(debut timestamptz, minutes integer)
    RETURNS timestamptz LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT debut + make_interval(mins => minutes) $$
    """,
    """
    ALTER TABLE cases_entretien ADD CONSTRAINT entretien_no_overlap_per_ass
    EXCLUDE USING gist (
        ass_id WITH =,
        tstzrange(debut, pdp_meeting_end(debut, duree_minutes), '[)') WITH &&
    ) WHERE (statut = 'planifie')
    """,
]
BACKWARD = [
    "ALTER TABLE cases_entretien DROP CONSTRAINT IF EXISTS entretien_no_overlap_per_ass",
    "DROP FUNCTION IF EXISTS pdp_meeting_end(timestamptz, integer)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("cases", "0008_french_labels")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]
