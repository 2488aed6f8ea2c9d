-- Narrow notification rows: what is the same for every recipient of an event is stored once,
-- and each attempt is kept in its notification's own row.
--
-- A notification row used to carry the event's whole message (a topic's text: a kilobyte or
-- more) once per recipient, and every attempt was a row of its own in notification_attempts.
-- Delivering one notification then rewrote that kilobyte twice (claim and outcome), often
-- outside its page (no room for a HOT update), sent it to the worker once per recipient, and
-- inserted an attempt row with two index entries and a foreign-key check.

-- What every notification of an event carries (the event's payload and its community), written
-- by fan-out in the transaction that inserts the notifications. A notification's own `payload`
-- then holds only what differs per recipient (an email's recipient_name); the message it is
-- composed from is `coalesce(events.message, '{}') || notifications.payload`. Notifications
-- without an event (digests, notices to one member), and those queued before this migration,
-- keep their whole message in `payload`.
ALTER TABLE events ADD COLUMN message jsonb;

-- Half of each page left free: a claim updates every row of a run of pages at once, and at 70 %
-- (009) only part of those new versions fitted beside the old ones; the rest were written to
-- other pages with an entry in every index. At 50 % a claim is one heap-only update per row.
ALTER TABLE notifications SET (fillfactor = 50);

-- Every attempt, oldest first: {"at": RFC 3339, "outcome": sent | transient | permanent,
-- "code": integer or null, "text": string or null}. At most `delivery_max_attempts` entries.
ALTER TABLE notifications ADD COLUMN attempt_log jsonb NOT NULL DEFAULT '[]';

UPDATE notifications n
   SET attempt_log = a.log
  FROM (SELECT notification_id,
               jsonb_agg(jsonb_build_object(
                   'at', to_char(attempted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                   'outcome', outcome, 'code', response_code, 'text', response_text)
                 ORDER BY attempted_at, id) AS log
          FROM notification_attempts GROUP BY notification_id) a
 WHERE a.notification_id = n.id;

DROP TABLE notification_attempts;

-- The attempts as rows, for operators' queries (and the shape the table had).
CREATE VIEW notification_attempts AS
  SELECT n.id AS notification_id,
         a.attempt::integer AS attempt,
         (a.entry->>'at')::timestamptz AS attempted_at,
         a.entry->>'outcome' AS outcome,
         (a.entry->>'code')::integer AS response_code,
         a.entry->>'text' AS response_text
    FROM notifications n
   CROSS JOIN LATERAL jsonb_array_elements(n.attempt_log) WITH ORDINALITY AS a(entry, attempt);
