"""Finding a person: by NIR (prefix, spaces allowed) or by name (accent- and case-insensitive).

Only among the people the user may see (`Assure.objects.visible_to`, in its set form but for a
full NIR: a common name matches a hundred thousand people, against a few thousand the user sees).
Searching by NIR is reserved to users who may see it (`can_see_nir`).

On PostgreSQL each name word is a `search_name LIKE '%mot%'`, served by the GIN trigram index of
`referrals` migration 0019, and a NIR a `nir LIKE 'prefix%'`, served by the `varchar_pattern_ops`
index Django makes for the unique NIR: keep these lookups as they are (`__contains`,
`__startswith` on the raw columns) or the planner falls back to scanning every assuré.
"""

import re

from django.db.models import Prefetch

from cases.models import Accompagnement
from pdp.permissions import can_see_nir
from referrals.models import Assure, Signalement, build_search_name

# A NIR typed in full or in part: digits, possibly "2A"/"2B" for Corsica, with separators.
_NIR_SEPARATORS = re.compile(r"[\s.\-]+")
_NIR_PREFIX = re.compile(r"^[0-9][0-9AB]*$")
NIR_MIN_LENGTH = 3
NIR_FULL_LENGTH = 13  # without its 2-digit key

SORTS = {
    "nom": ("nom_naissance", "prenoms", "pk"),
    "-nom": ("-nom_naissance", "-prenoms", "-pk"),
    "naissance": ("date_naissance", "nom_naissance", "pk"),
    "-naissance": ("-date_naissance", "nom_naissance", "pk"),
    "commune": ("commune", "nom_naissance", "pk"),
    "-commune": ("-commune", "nom_naissance", "pk"),
}
DEFAULT_SORT = "nom"


class SearchRefused(Exception):
    """The query cannot be run for this user; the message is French and shown as is."""


def nir_query(q):
    """The normalised NIR prefix if `q` looks like (part of) a NIR, else None."""
    compact = _NIR_SEPARATORS.sub("", q or "").upper()
    if compact and _NIR_PREFIX.match(compact):
        return compact
    return None


def name_words(q):
    return build_search_name(q or "").split()


def search_assures(user, q, order=DEFAULT_SORT):
    """People visible to `user` matching `q`, with their visible open cases and referrals.

    Each result carries `open_cases` and `open_referrals` (lists). Raises SearchRefused when
    the query is a NIR and the user may not search by NIR, or when it is too short.
    """
    q = (q or "").strip()
    nir = nir_query(q)
    # A full NIR is one candidate at most: one correlated EXISTS per source checks it faster
    # than building the set of everyone the user sees; any other query may leave thousands of
    # candidates, which the set form filters at once (README « Search at national volume »).
    qs = Assure.objects.visible_to(user, as_set=nir is None or len(nir) < NIR_FULL_LENGTH)
    if nir is not None:
        if not can_see_nir(user):
            raise SearchRefused("La recherche par NIR ne vous est pas ouverte.")
        if len(nir) < NIR_MIN_LENGTH:
            raise SearchRefused(
                f"Saisissez au moins {NIR_MIN_LENGTH} caractères du NIR pour lancer la recherche."
            )
        qs = qs.filter(nir__startswith=nir)
    else:
        words = name_words(q)
        if not words:
            return Assure.objects.none()
        for word in words:
            qs = qs.filter(search_name__contains=word)
    cases = Accompagnement.objects.visible_to(user).open().select_related("referent")
    referrals = Signalement.objects.visible_to(user).open().order_by("date_signalement", "pk")
    return qs.order_by(*SORTS.get(order, SORTS[DEFAULT_SORT])).prefetch_related(
        Prefetch("accompagnements", queryset=cases, to_attr="open_cases"),
        Prefetch("signalements", queryset=referrals, to_attr="open_referrals"),
    )
