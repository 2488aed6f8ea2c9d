-- The durable job engine (jobs/engine.hpp): when a run started, a 'skipped' outcome for
-- misfired jobs, wake-ups through NOTIFY, and a fan-out job for every outbox event.

ALTER TABLE jobs ADD COLUMN started_at timestamptz;
ALTER TABLE jobs DROP CONSTRAINT jobs_state_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_state_check
  CHECK (state IN ('pending', 'running', 'done', 'skipped', 'dead'));
-- Admin listings of failed jobs. (Not an index on every state: finishing a batch by id must
-- not be planned through an index full of entries for rows that are no longer 'running'.)
CREATE INDEX jobs_dead_idx ON jobs (id) WHERE state = 'dead';
-- A queue table: rows change state all the time, so vacuum it early, keeping its indexes free
-- of entries for finished jobs.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
                      autovacuum_analyze_scale_factor = 0.02);

-- A new job, or a job whose due time moved (retry, re-plan, next run of a schedule), wakes
-- every instance at once. One notification per statement; the payload is empty because each
-- instance asks the table for the earliest due time itself.
CREATE FUNCTION convene_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_jobs', '');
  RETURN NULL;
END $$;
CREATE TRIGGER jobs_notify_insert AFTER INSERT ON jobs
  FOR EACH STATEMENT EXECUTE FUNCTION convene_jobs_notify();
CREATE TRIGGER jobs_notify_due AFTER UPDATE OF due_at ON jobs
  FOR EACH STATEMENT EXECUTE FUNCTION convene_jobs_notify();

-- Fan-out: every outbox event becomes a job in the transaction that wrote the event, so an
-- event is never forgotten, whichever code path wrote it.
CREATE FUNCTION convene_events_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO jobs (kind, unique_key, payload, due_at, created_at, updated_at)
  SELECT 'fanout', 'event:' || e.id, jsonb_build_object('event_id', e.id), e.occurred_at, e.occurred_at, e.occurred_at
  FROM new_events e
  ON CONFLICT (kind, unique_key) DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER events_fanout AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION convene_events_fanout();
