-- bench/digests: the data set of issue 7's benchmark, generated in the database (psql variables:
-- members, communities, topics, meetings). Every member's daily digest is due when the script
-- runs: each member's digest hour is the current hour in their zone and their digests have
-- covered everything up to 23 hours ago, so the one period owed closes at that hour today
-- (within the last hour), and every topic and meeting of the period lies between the two.
--
-- Zones: 15 of them, whole-hour, half-hour and 45-minute offsets, both hemispheres' DST,
-- UTC+14 and UTC-11; members and communities take them in turn.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMPORARY TABLE bench_zones (n int PRIMARY KEY, zone text NOT NULL);
INSERT INTO bench_zones
SELECT n - 1, zone FROM unnest(ARRAY['Europe/London', 'America/New_York', 'America/Los_Angeles', 'Europe/Berlin',
  'Asia/Kolkata', 'Asia/Tokyo', 'Australia/Sydney', 'America/Sao_Paulo', 'Africa/Nairobi', 'Pacific/Auckland',
  'Asia/Kathmandu', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'UTC']) WITH ORDINALITY AS z(zone, n);
-- "now" for the data set; the period is (now - 23 h, the digest hour today].
CREATE TEMPORARY TABLE bench_now AS SELECT now() AS t;

INSERT INTO communities (slug, name, description, time_zone, created_at, updated_at)
SELECT format('c%s', lpad(g::text, 4, '0')), format('Community %s', lpad(g::text, 4, '0')),
       'A community of the digest benchmark.', z.zone, b.t - interval '400 days', b.t - interval '400 days'
  FROM generate_series(1, :communities) g
  JOIN bench_zones z ON z.n = g % 15 CROSS JOIN bench_now b;

INSERT INTO members (email, name, time_zone, digest_hour, created_at, updated_at)
SELECT format('m%s@example.org', lpad(g::text, 6, '0')), format('Member %s', lpad(g::text, 6, '0')), z.zone,
       extract(hour FROM b.t AT TIME ZONE z.zone)::int, b.t - interval '300 days', b.t - interval '300 days'
  FROM generate_series(1, :members) g
  JOIN bench_zones z ON z.n = g % 15 CROSS JOIN bench_now b;

-- 1-5 communities each (1 + id % 5), all daily. The trigger of schema 007 gives each member a
-- digest schedule covered up to the membership's updated_at: 23 hours ago.
INSERT INTO memberships (member_id, community_id, delivery, joined_at, updated_at)
SELECT m.id, c.id, 'daily', b.t - interval '200 days', b.t - interval '23 hours'
  FROM members m CROSS JOIN bench_now b
  CROSS JOIN LATERAL generate_series(0, (m.id % 5)::int) k
  JOIN communities c ON c.id = 1 + (m.id * 7919 + k * 104729) % :communities;

-- Topics posted in the period, and their topic.posted events as the API writes them.
INSERT INTO topics (community_id, author_id, title, body, url, posted_at)
SELECT 1 + g % :communities, 1 + (g * 31) % :members,
       format('Topic %s: what is your favourite feature store, and why?', g),
       'We are collecting the feature stores people run in production: what you use, how you '
       'keep online and offline features consistent, and what you would not choose again. '
       'Short notes are welcome; links to write-ups even more. We will summarise the answers '
       'at the next meeting and put the summary on the community page.' || E'\n\n' ||
       'Please reply before the end of the month.',
       NULL, b.t - interval '22 hours' + (g % 72000) * interval '1 second'
  FROM generate_series(1, :topics) g CROSS JOIN bench_now b;
INSERT INTO events (kind, community_id, payload, occurred_at, fanned_out_at)
SELECT 'topic.posted', t.community_id,
       jsonb_build_object('id', t.id, 'topic_id', t.id, 'community', c.slug, 'community_name', c.name,
                          'author_id', t.author_id, 'title', t.title, 'body', t.body,
                          'posted_at', to_char(t.posted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                          'url', format('https://convene.example.org/communities/%s/topics/%s', c.slug, t.id)),
       t.posted_at, t.posted_at
  FROM topics t JOIN communities c ON c.id = t.community_id;

-- Meetings scheduled in the period, starting in the next 1-30 days (about half of them within
-- the digest's 14 days of upcoming meetings), and their meeting.scheduled events.
INSERT INTO meetings (uid, community_id, kind, title, description, time_zone, start_local, end_local, starts_at, ends_at,
                      created_at, updated_at)
SELECT format('bench-%s@convene.example.org', g), c.id, 'meeting', format('Monthly meeting %s', g),
       'Talks, then questions.', c.time_zone, s.at AT TIME ZONE c.time_zone, (s.at + interval '90 minutes') AT TIME ZONE c.time_zone,
       s.at, s.at + interval '90 minutes', b.t - interval '21 hours' + (g % 68400) * interval '1 second',
       b.t - interval '21 hours' + (g % 68400) * interval '1 second'
  FROM generate_series(1, :meetings) g CROSS JOIN bench_now b
  JOIN communities c ON c.id = 1 + (g * 7) % :communities
  CROSS JOIN LATERAL (SELECT date_trunc('hour', b.t) + (1 + g % 30) * interval '1 day' + (g % 10) * interval '1 hour' AS at) s;
INSERT INTO events (kind, community_id, payload, occurred_at, fanned_out_at)
SELECT 'meeting.scheduled', m.community_id,
       jsonb_build_object('meeting_id', m.id, 'uid', m.uid, 'community', c.slug, 'community_name', c.name, 'kind', m.kind,
                          'title', m.title, 'description', m.description, 'all_day', m.all_day, 'status', m.status,
                          'sequence', m.sequence, 'time_zone', m.time_zone,
                          'start', to_char(m.start_local, 'YYYY-MM-DD"T"HH24:MI:SS'),
                          'end', to_char(m.end_local, 'YYYY-MM-DD"T"HH24:MI:SS'),
                          'start_utc', to_char(m.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                          'end_utc', to_char(m.ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                          'rrule', NULL, 'room_id', NULL, 'cancelled_occurrences', '[]'::jsonb, 'moved_occurrences', '[]'::jsonb),
       m.created_at, m.created_at
  FROM meetings m JOIN communities c ON c.id = m.community_id;

-- The events were fanned out already (their members are on daily delivery: nothing to send now).
DELETE FROM jobs;
