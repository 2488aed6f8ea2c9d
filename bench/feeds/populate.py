#!/usr/bin/env python3
"""Creates the benchmark's data through convened's v1 API (docs/api.md).

A public community with N events (default 500): weekly series and one-off meetings and
special events, some of them in rooms, plus three rooms. Deterministic: the same N gives
the same titles, times and rooms (dates are relative to today, so bookings stay in the
future). Uses one keep-alive connection; Python standard library only.

    populate.py http://127.0.0.1:PORT TOKEN SLUG [N]
"""
import datetime
import http.client
import json
import sys
import urllib.parse


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    base, token, slug = sys.argv[1], sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) == 5 else 500
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)

    def call(method, path, body):
        conn.request(method, path, body=json.dumps(body),
                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status not in (200, 201):
            sys.exit(f"{method} {path} -> {resp.status}: {data[:500]!r}")
        return json.loads(data)

    rooms = [call("POST", "/v1/rooms", {"name": f"Bench room {n}", "join_url": f"https://meet.example.org/bench-{n}",
                                        "capacity": 50})["id"] for n in ("A", "B", "C")]
    call("POST", "/v1/communities", {
        "slug": slug, "name": "Benchmark community",
        "description": "Feeds benchmark (bench/feeds): weekly series, one-off meetings and special events.",
        "time_zone": "Europe/London", "visibility": "public"})

    series = count * 3 // 10          # 30 % weekly series
    one_off = count - series          # 70 % one-off meetings and special events
    first = datetime.date.today() + datetime.timedelta(days=7)
    made = {"series": 0, "one_off": 0, "special_event": 0, "in_rooms": 0}

    def post(body):
        call("POST", f"/v1/communities/{slug}/meetings", body)
        if "room_id" in body:
            made["in_rooms"] += 1

    for j in range(series):
        # Weekday j % 7, hour 06..20: distinct slots, so the series in room B never clash.
        day = first + datetime.timedelta(days=j % 7)
        hour = 6 + (j // 7) % 15
        body = {
            "kind": "meeting",
            "title": f"Weekly study group {j + 1}",
            "description": f"Series {j + 1}: we read, discuss and plan; bring questions, notes and a laptop.\n"
                           "Agenda: news, one paper, open floor.",
            "start": f"{day.isoformat()}T{hour:02d}:00", "end": f"{day.isoformat()}T{hour:02d}:45",
            "time_zone": "America/New_York" if j % 5 == 0 else "Europe/London",
            "rrule": "FREQ=WEEKLY;COUNT=26" if j % 2 == 0 else
                     f"FREQ=WEEKLY;UNTIL={(day + datetime.timedelta(weeks=40)).strftime('%Y%m%d')}T235959Z",
        }
        if j < 105 and j % 3 == 0:
            body["room_id"] = rooms[1]
        post(body)
        made["series"] += 1

    for i in range(one_off):
        # One a day at 18:00: the ones in room A never clash.
        day = first + datetime.timedelta(days=i)
        special = i % 10 == 0
        body = {
            "kind": "special_event" if special else "meeting",
            "title": (f"Special event {i + 1}: guest talk" if special else f"Meeting {i + 1}"),
            "description": f"One-off {i + 1}. Topics: planning, reviews; questions welcome — café afterwards.",
            "start": f"{day.isoformat()}T18:00", "end": f"{day.isoformat()}T19:30",
        }
        if i % 4 == 0:
            body["room_id"] = rooms[0]
        post(body)
        made["special_event" if special else "one_off"] += 1

    print(json.dumps({"community": slug, "events": series + one_off, "weekly_series": made["series"],
                      "one_off_meetings": made["one_off"], "special_events": made["special_event"],
                      "in_rooms": made["in_rooms"], "rooms": rooms}))


if __name__ == "__main__":
    main()
