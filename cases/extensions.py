"""What the apps above `cases` add to an accompagnement, without `cases` importing them.

- `consent_revoked`: sent inside the revocation's transaction, so that what a higher app does
  about it (the cellule PDP withdraws the situation from every future agenda) commits or rolls
  back with the revocation itself.
- `first_meeting_planned`: the same, when a case opened from a referral turns the referral's
  proposed first meeting into an entretien (outreach moves the person's « manage » link to it).
- `case_opened`: sent inside `case_open`'s transaction (outreach expires the person's open
  campaign invitations).
- Case panels: a higher app registers `panel(request, case)` in its `AppConfig.ready()`; it
  returns None (nothing to show to this user) or a dict with a `template` to include on the
  accompagnement page, and the context that template needs under `panel`.
"""

from django.dispatch import Signal

# Arguments: consentement, accompagnement, acting_user.
consent_revoked = Signal()
# Sent inside `case_open_from_signalement`'s transaction when the referral's proposed first
# meeting became a planned entretien. Arguments: signalement, entretien, acting_user.
first_meeting_planned = Signal()
# Sent inside `case_open`'s transaction. Arguments: accompagnement, acting_user.
case_opened = Signal()

_case_panels = []


def register_case_panel(panel):
    if panel not in _case_panels:
        _case_panels.append(panel)


def case_panels(request, case):
    panels = []
    for panel in _case_panels:
        shown = panel(request, case)
        if shown is not None:
            panels.append(shown)
    return panels
