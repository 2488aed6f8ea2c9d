#!/usr/bin/env python3
"""Reads a rendered .ics feed with an independent parser (python3-icalendar).

Usage: ics_roundtrip.py FILE EXPECTED_VEVENTS

Checks the raw text (CRLF line ends, physical lines of at most 75 octets, valid UTF-8), that
python3-icalendar parses it, that it holds EXPECTED_VEVENTS VEVENT components, that each has
UID, DTSTART and SEQUENCE, that every TZID used by a DTSTART/DTEND/EXDATE/RECURRENCE-ID has a
VTIMEZONE, and that DTSTART values decode. Exits 0 when all hold, 1 (with the reasons on
stderr) otherwise, 2 on bad usage, 3 when python3-icalendar is not installed.
"""
import sys


def main(argv):
    if len(argv) != 3:
        print("usage: ics_roundtrip.py FILE EXPECTED_VEVENTS", file=sys.stderr)
        return 2
    path, expected = argv[1], int(argv[2])
    with open(path, "rb") as f:
        raw = f.read()

    problems = []
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        problems.append("not UTF-8: %s" % e)
    if not raw.endswith(b"\r\n"):
        problems.append("does not end with CRLF")
    body = raw[:-2] if raw.endswith(b"\r\n") else raw
    for number, physical in enumerate(body.split(b"\r\n"), 1):
        if b"\r" in physical or b"\n" in physical:
            problems.append("line %d: bare CR or LF" % number)
        if len(physical) > 75:
            problems.append("line %d: %d octets" % (number, len(physical)))

    try:
        import icalendar  # python3-icalendar (Debian)
    except ImportError:
        print("python3-icalendar is not installed", file=sys.stderr)
        return 3

    calendar = icalendar.Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    if len(events) != expected:
        problems.append("%d VEVENTs, expected %d" % (len(events), expected))
    zones = {str(z["TZID"]) for z in calendar.walk("VTIMEZONE")}
    for index, event in enumerate(events):
        for name in ("UID", "DTSTART", "SEQUENCE"):
            if name not in event:
                problems.append("VEVENT %d: no %s" % (index, name))
        for name in ("DTSTART", "DTEND", "EXDATE", "RECURRENCE-ID"):
            values = event.get(name)
            if values is None:
                continue
            for value in values if isinstance(values, list) else [values]:
                tzid = value.params.get("TZID")
                if tzid is not None and str(tzid) not in zones:
                    problems.append("VEVENT %d: %s TZID %s has no VTIMEZONE" % (index, name, tzid))
        if "DTSTART" in event:
            try:
                event.decoded("DTSTART")
            except Exception as e:  # noqa: BLE001 - any failure to decode is a finding
                problems.append("VEVENT %d: DTSTART does not decode: %s" % (index, e))

    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
