-- A notification's id derives from its dedupe key, and the key's own unique index goes.
--
-- The dedupe key says what a notification is for ("event:42:email:7"): the same event never
-- reaches the same person twice through the same channel. Its unique index was the costliest
-- part of recording an outcome: finishing a notification leaves the queue (schema 009's partial
-- indexes), so the row gets a new version with an entry in every index, and a unique index
-- checks its new entry against the old one in the table. With the id a function of the key, the
-- primary key alone keeps keys unique: one index fewer on every insert and every outcome
-- (recording 20,000 outcomes: about 22 µs per row before, 14 µs after, docs/benchmarks.md).

-- A name-based UUID (RFC 9562 layout: version 8, variant 10) from the MD5 of the key. A SQL
-- expression, so the planner inlines it; tests check it against an independent implementation.
CREATE FUNCTION notification_id(dedupe_key text) RETURNS uuid
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN overlay(overlay(md5('convene:notification:' || dedupe_key) PLACING '8' FROM 13) PLACING '8' FROM 17)::uuid;

-- Digests point at their email; they follow its id.
ALTER TABLE digests DROP CONSTRAINT digests_notification_id_fkey;
ALTER TABLE digests ADD CONSTRAINT digests_notification_id_fkey
  FOREIGN KEY (notification_id) REFERENCES notifications (id) ON DELETE SET NULL ON UPDATE CASCADE;

-- Existing notifications take their derived id, except those already tried and still queued:
-- their next attempt must carry the id the receiver saw (webhook-id, Message-ID), by which it
-- drops duplicates. Those few keep a random id until they finish; their keys are not checked
-- against new notifications (fan-out and digests never queue a key twice: they are once per
-- event and per period by their own ledgers).
UPDATE notifications SET id = notification_id(dedupe_key)
 WHERE id <> notification_id(dedupe_key) AND NOT (queued AND attempts > 0);

ALTER TABLE notifications DROP CONSTRAINT notifications_dedupe_key_key;
-- Without a default, an insert that forgets the id fails instead of escaping the dedupe check.
ALTER TABLE notifications ALTER COLUMN id DROP DEFAULT;
