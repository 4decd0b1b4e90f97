"""Reads an iCalendar feed on stdin with the `icalendar` package (a real RFC 5545 parser) and
prints its events as JSON; exits non-zero naming the first rule the feed breaks."""
import json
import sys

from icalendar import Calendar

raw = sys.stdin.buffer.read()
if not raw.endswith(b"\r\n"):
    sys.exit("the feed does not end with CRLF")
for n, line in enumerate(raw.split(b"\r\n")[:-1], 1):
    if b"\n" in line or b"\r" in line:
        sys.exit(f"line {n}: a bare LF or CR")
    if len(line) > 75:
        sys.exit(f"line {n}: {len(line)} octets (over 75)")
cal = Calendar.from_ical(raw.decode("utf-8"))
if cal.name != "VCALENDAR" or str(cal.get("VERSION")) != "2.0" or not cal.get("PRODID"):
    sys.exit("not a VCALENDAR with VERSION:2.0 and PRODID")
events = []
for ev in cal.walk("VEVENT"):
    for prop in ("UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"):
        if ev.get(prop) is None:
            sys.exit(f"a VEVENT without {prop}")
    start, end = ev.decoded("DTSTART"), ev.decoded("DTEND")
    if start.utcoffset() is None or start.utcoffset().total_seconds() != 0:
        sys.exit(f"{ev['UID']}: DTSTART is not UTC")
    if end <= start:
        sys.exit(f"{ev['UID']}: DTEND is not after DTSTART")
    rrule = ev.get("RRULE")
    events.append({
        "uid": str(ev["UID"]),
        "summary": str(ev["SUMMARY"]),
        "description": str(ev.get("DESCRIPTION", "")),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "rrule": rrule.to_ical().decode() if rrule is not None else None,
        "categories": [str(c) for c in ev.get("CATEGORIES").cats] if ev.get("CATEGORIES") else [],
    })
uids = [e["uid"] for e in events]
if len(set(uids)) != len(uids):
    sys.exit("UIDs repeat")
json.dump(events, sys.stdout)
