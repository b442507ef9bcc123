"""The ICS file of a booked meeting (attached to the confirmation e-mail, downloadable from the
confirmation page). One stable UID per meeting (`Meeting.uid`: ``entretien-<pk>@pdp``), a
SEQUENCE that grows with each move, STATUS:CANCELLED once cancelled: a calendar that imported
the first file updates the same event. Nothing about health, no worker's name."""

import datetime

import icalendar
from django.utils import timezone

SUMMARY = "Rendez-vous avec le service social de l'Assurance Maladie"


def meeting_ics(meeting, now=None):
    """`meeting` (outreach.booking.Meeting) as an iCalendar text (bytes)."""
    now = now or timezone.now()
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//PDP Service social//Rendez-vous//FR")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", meeting.uid)
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", now.astimezone(datetime.UTC))
    event.add("dtstart", meeting.debut.astimezone(datetime.UTC))
    event.add("dtend", meeting.fin.astimezone(datetime.UTC))
    event.add("summary", SUMMARY)
    event.add("location", meeting.place)
    description = f"Modalité : {meeting.mode_label}."
    if meeting.unit.telephone:
        description += f" Pour nous joindre : {meeting.unit.telephone}."
    event.add("description", description)
    event.add("status", "CANCELLED" if meeting.cancelled else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
