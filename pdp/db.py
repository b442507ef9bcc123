"""Which database a read goes to (README « Production », replica).

The reporting replica, when `REPORTING_DATABASE_URL` configures one, serves only the code that
asks for it by name: the indicators page and its CSV and XLSX exports read there with
`.using(reporting_alias())`. A replica lags the primary by a moment, which aggregated figures
can afford and the page of a person cannot (read-your-writes): nothing else reads there.
"""

from django.conf import settings


def reporting_alias():
    """The alias of the reporting replica, or of the primary when none is configured."""
    return settings.REPORTING_DATABASE_ALIAS
