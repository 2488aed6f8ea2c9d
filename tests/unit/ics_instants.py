#!/usr/bin/env python3
"""Expands a rendered .ics feed into instants, the way a calendar client would, independently of
convened: python3-icalendar reads the file, dateutil expands each RRULE, zoneinfo (the system's
tzdata) turns local times into instants.

Usage: ics_instants.py FILE FOLD FROM TO

FOLD is how a local time that does not exist or happens twice is read: 0 as RFC 5545 §3.3.5,
java.time and zoneinfo's default do (a time in a gap with the offset before it, the first of
a repeated time), 1 as Thunderbird's ical.js does (the offset after a gap, the second of a
repeated time). A feed that leaves nothing to interpret gives the same instants for both.

Prints one line per occurrence (all-day events, which have dates and no instants, left out) starting in [FROM, TO) (RFC 3339 UTC, e.g. 2027-01-01T00:00:00Z),
sorted: "UID RECURRENCE-ID START END", the RECURRENCE-ID being the occurrence's nominal local
start (YYYYMMDDTHHMMSS) for a series and "-" for a one-off event, START and END in UTC.
Exits 2 on bad usage, 3 when python3-icalendar or dateutil is missing.
"""
import sys
from datetime import datetime, timedelta, timezone

LOCAL = "%Y%m%dT%H%M%S"


def main(argv):
    if len(argv) != 5 or argv[2] not in ("0", "1"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import icalendar  # python3-icalendar
        from dateutil.rrule import rrulestr  # python3-dateutil
        from zoneinfo import ZoneInfo
    except ImportError as e:
        print("missing: %s" % e, file=sys.stderr)
        return 3
    path, fold = argv[1], int(argv[2])
    begin = datetime.strptime(argv[3], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    end = datetime.strptime(argv[4], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

    def raw(prop):
        """The value as written, and its TZID (None for UTC or floating)."""
        return prop.to_ical().decode(), prop.params.get("TZID")

    def nominal(prop):
        """A DATE-TIME as written: (naive local time, zone name or 'UTC')."""
        text, tzid = raw(prop)
        if text.endswith("Z"):
            return datetime.strptime(text[:-1], LOCAL), "UTC"
        return datetime.strptime(text, LOCAL), tzid

    def instant(naive, zone):
        if zone == "UTC":
            return naive.replace(tzinfo=timezone.utc)
        return naive.replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(timezone.utc)

    with open(path, "rb") as f:
        calendar = icalendar.Calendar.from_ical(f.read())

    masters, overrides = [], {}
    for event in calendar.walk("VEVENT"):
        if "RECURRENCE-ID" in event:
            rid, _ = raw(event["RECURRENCE-ID"])
            overrides[(str(event["UID"]), rid)] = event
        else:
            masters.append(event)

    def span(event):
        s_local, s_zone = nominal(event["DTSTART"])
        e_local, e_zone = nominal(event["DTEND"])
        return instant(s_local, s_zone), instant(e_local, e_zone)

    rows = []
    for event in masters:
        uid = str(event["UID"])
        if "T" not in raw(event["DTSTART"])[0]:
            continue  # an all-day event: dates, not instants
        if "RRULE" not in event:
            start, finish = span(event)
            if begin <= start < end:
                rows.append((uid, "-", start, finish))
            continue
        start_local, zone = nominal(event["DTSTART"])
        first_start, first_end = span(event)
        duration = first_end - first_start  # RFC 5545: the exact duration of every instance
        exdates = set()
        for prop in event.get("EXDATE", []) if isinstance(event.get("EXDATE"), list) else [event.get("EXDATE")]:
            if prop is not None:
                exdates.update(prop.to_ical().decode().split(","))
        rule = rrulestr(event["RRULE"].to_ical().decode(), dtstart=start_local)
        limit = end.replace(tzinfo=None) + timedelta(days=2)  # local times are within a day of UTC
        for local in rule.xafter(start_local - timedelta(seconds=1), inc=True):
            if local > limit:
                break
            rid = local.strftime(LOCAL)
            if rid in exdates:
                continue
            moved = overrides.get((uid, rid))
            if moved is not None:
                start, finish = span(moved)
            else:
                start = instant(local, zone)
                finish = start + duration
            if begin <= start < end:
                rows.append((uid, rid, start, finish))

    def utc(t):
        return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    for uid, rid, start, finish in sorted(rows, key=lambda r: (r[0], r[2], r[1])):
        print(uid, rid, utc(start), utc(finish))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
