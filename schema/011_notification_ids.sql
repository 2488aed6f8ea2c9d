-- A notification's id derives from its dedupe key, and the key's own unique index goes.
--
-- The dedupe key says what a notification is for ("event:42:email:7"): the same event never
-- reaches the same person twice through the same channel. Finishing a notification leaves the
-- queue (schema 009's partial indexes), so the row gets a new version with an entry in every
-- index, and a unique index checks its new entry against the old one in the table. With the id a
-- function of the key, the primary key alone keeps keys unique: one index fewer on every insert
-- and every outcome.
--
-- Upgrading: stop every instance before migrating. An older binary inserts without an id and
-- names the dropped constraint (ON CONFLICT (dedupe_key)): its fan-out jobs would fail (and be
-- retried) until it is replaced.

-- A name-based UUID (RFC 9562 layout: version 8, variant 10) from the MD5 of the key. A SQL
-- expression, so the planner inlines it; tests check it against an independent implementation.
CREATE FUNCTION notification_id(dedupe_key text) RETURNS uuid
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN overlay(overlay(md5('convene:notification:' || dedupe_key) PLACING '8' FROM 13) PLACING '8' FROM 17)::uuid;

ALTER TABLE notifications DROP CONSTRAINT notifications_dedupe_key_key;
-- Without a default, an insert that forgets the id fails instead of escaping the dedupe check.
ALTER TABLE notifications ALTER COLUMN id DROP DEFAULT;

-- Digests point at their email and follow its id. The index serves that, and deleting a
-- notification (its member was deleted) no longer scans every digest.
CREATE INDEX digests_notification_idx ON digests (notification_id);
ALTER TABLE digests DROP CONSTRAINT digests_notification_id_fkey;
ALTER TABLE digests ADD CONSTRAINT digests_notification_id_fkey
  FOREIGN KEY (notification_id) REFERENCES notifications (id) ON DELETE SET NULL ON UPDATE CASCADE;

-- Notifications never tried take their derived id: nobody has seen theirs. Every other keeps
-- the id it went out with (Message-ID, webhook-id), so that receivers and operators can still
-- match it, and a retry carries it again. Those older rows' keys are not checked against new
-- notifications: nothing queues a key twice on its own (fan-out runs once per event, digests
-- once per period by their ledger), and a digest may then repeat an event its member got by
-- email before this migration, if they moved that community from real time to a digest then.
UPDATE notifications SET id = notification_id(dedupe_key)
 WHERE attempts = 0 AND id <> notification_id(dedupe_key);
