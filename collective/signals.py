"""What the apps above `collective` (outreach) hear of it, without `collective` importing them.

- `action_finished(action, acting_user)`: sent inside `action_finish`'s transaction; outreach
  sends the end-of-action questionnaire to the participants who attended.
- `action_cancelled(action, acting_user, participants)`: sent inside `action_cancel`'s
  transaction with the participants it took out; outreach tells each of them (the messages go
  once the cancellation commits).
- `participant_promoted(participant)`: a seat freed was offered to the first of the waitlist
  (status « à confirmer », `confirmer_avant`); outreach tells the person, with a link to
  confirm (webinar registrations by code); for people added by an ASS she confirms on the page.
"""

from django.dispatch import Signal

action_finished = Signal()
action_cancelled = Signal()
participant_promoted = Signal()
