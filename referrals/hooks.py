"""What the apps above `referrals` tell the referral engine, without `referrals` importing them.

Dependencies run one way (pdp ← referrals ← cases ← coordination…, enforced by import-linter),
yet four referral rules depend on records that a higher app owns:

- a person is visible to whoever sees one of their accompagnements, not only their referrals
  (and later, to the committee their case was presented to);
- no new service social referral while the person has an open accompagnement (detection and
  manual referrals);
- a social worker's load, which automatic assignment balances, counts their open cases;
- the first meeting a conseiller books for an ASS must not overlap her planned entretiens.

It also carries the actions a higher app adds to the referral page (outreach's « send a booking
link »), like `cases.extensions` carries case panels: `action(request, signalement)` returns
None (nothing for this user) or a dict with a `template` to include, and its context under
`panel`.

The higher app registers its answer once, in its `AppConfig.ready()`; without it (referrals
alone) the rules fall back to referrals only. Each rule keeps one implementation: the higher app
writes it next to its models, this module only carries it.
"""

from django.db.models import Value

_assure_visibility = []
_open_followup = None
_meeting_conflicts = []
_referral_actions = []


class OpenFollowup:
    """Interface of the "open accompagnement" answer (implemented by `cases.hooks`)."""

    def exists(self, assure_ref):
        """An expression: the person `assure_ref` (an OuterRef or F) has an open case."""
        raise NotImplementedError

    def first_for(self, assure):
        """The person's open case or None (for messages), with its unit."""
        raise NotImplementedError

    def exists_sql(self, assure_column):
        """The same condition as SQL for the set-based detection, over `assure_column`."""
        raise NotImplementedError

    def load(self):
        """An expression over User: the number of open cases the user is référent of."""
        raise NotImplementedError


def register_assure_visibility(source):
    """`source(user)` returns more people the user sees, as a list of querysets of their ids
    (`values("assure_id")` of the higher app's records the user sees; empty: nobody more).
    Say which records, not how to test them: the referral engine makes of each a correlated
    `EXISTS` or a member of a `UNION ALL` as the query needs
    (`referrals.models.AssureQuerySet.visible_to`). Keep each queryset free of OR over
    different indexes (return two querysets instead): inside the union, an OR makes
    PostgreSQL scan the whole table."""
    if source not in _assure_visibility:
        _assure_visibility.append(source)


def register_open_followup(source):
    global _open_followup
    _open_followup = source


def register_meeting_conflict(finder):
    """`finder(ass, debut, fin)` returns a French description of a meeting of `ass` that
    overlaps [debut, fin), or None."""
    if finder not in _meeting_conflicts:
        _meeting_conflicts.append(finder)


def register_referral_action(action):
    if action not in _referral_actions:
        _referral_actions.append(action)


def referral_actions(request, signalement):
    """What the registered actions show to this user on the referral page."""
    shown = (action(request, signalement) for action in _referral_actions)
    return [panel for panel in shown if panel is not None]


def assure_visibility_sources(user):
    return [ids for source in _assure_visibility for ids in source(user)]


def open_case_exists(assure_ref):
    if _open_followup is None:
        return Value(False)
    return _open_followup.exists(assure_ref)


def open_case_of(assure):
    return None if _open_followup is None else _open_followup.first_for(assure)


def open_case_exists_sql(assure_column):
    return "FALSE" if _open_followup is None else _open_followup.exists_sql(assure_column)


def open_case_load():
    return Value(0) if _open_followup is None else _open_followup.load()


def meeting_conflict(ass, debut, fin):
    """The first conflicting meeting a higher app knows of (its description), or None."""
    for finder in _meeting_conflicts:
        found = finder(ass, debut, fin)
        if found:
            return found
    return None
