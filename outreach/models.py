"""Records of what an assuré does without an account (bookings through access codes) and of
what is sent to them (reminders)."""
