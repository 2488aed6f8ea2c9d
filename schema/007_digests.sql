-- Daily and weekly digests (DESIGN §4, "Digests"; jobs/kinds/digests.cpp).
--
-- digest_schedules: per member and cadence, how far digests have covered the member's news and
-- when the sweep should look at the member next. The row is what the sweep locks (FOR UPDATE
-- SKIP LOCKED), so two instances never compose the same member's digest at once.
-- digests: the ledger, one row per digest sent, written in the transaction that queues its
-- email; its unique key makes a second run of the same period add nothing.

CREATE TABLE digest_schedules (
  member_id      bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  cadence        text NOT NULL CHECK (cadence IN ('daily', 'weekly')),
  -- Events that occurred up to here were in a digest (or predate the member's choice of this
  -- cadence): the next digest covers (covered_to, its own instant].
  covered_to     timestamptz NOT NULL,
  -- The scheduled instant of the last digest period, sent or empty; NULL before the first. The
  -- next digest falls on a later local day (daily) or ISO week (weekly) in the member's zone
  -- than this one, so changing the hour or zone neither sends twice nor skips a day.
  last_digest_at timestamptz,
  -- When the sweep looks next. Only a hint: the sweep recomputes the due instant from the
  -- member's current zone, hour and weekday, so a stale (early) value costs one look.
  next_due_at    timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (member_id, cadence),
  CHECK (last_digest_at IS NULL OR last_digest_at <= covered_to)
);
CREATE INDEX digest_schedules_due_idx ON digest_schedules (next_due_at);
ALTER TABLE digest_schedules SET (autovacuum_vacuum_scale_factor = 0.05, autovacuum_analyze_scale_factor = 0.05);

CREATE TABLE digests (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id       bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  cadence         text NOT NULL CHECK (cadence IN ('daily', 'weekly')),
  -- The period: the scheduled instant that closes it. Several missed periods (downtime)
  -- coalesce into one digest keyed by the latest of them.
  period_end      timestamptz NOT NULL,
  period_label    text NOT NULL,               -- its local date ("2027-03-14") or ISO week ("2027-W11")
  periods_covered integer NOT NULL CHECK (periods_covered >= 1),
  covered_from    timestamptz NOT NULL,
  covered_to      timestamptz NOT NULL,
  item_count      integer NOT NULL CHECK (item_count > 0),
  notification_id uuid REFERENCES notifications (id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL,
  UNIQUE (member_id, cadence, period_end),
  CHECK (covered_from < covered_to)
);
CREATE INDEX digests_member_idx ON digests (member_id, cadence, period_end DESC);

-- A daily or weekly membership gives its member a schedule row (kept when it exists). The
-- row's clock is the membership's updated_at, written by the application from its clock.
CREATE FUNCTION convene_digest_schedule_for_membership() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.delivery IN ('daily', 'weekly') THEN
    INSERT INTO digest_schedules (member_id, cadence, covered_to, next_due_at, updated_at)
    VALUES (NEW.member_id, NEW.delivery, NEW.updated_at, NEW.updated_at, NEW.updated_at)
    ON CONFLICT (member_id, cadence) DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER memberships_digest_schedule AFTER INSERT OR UPDATE OF delivery ON memberships
  FOR EACH ROW EXECUTE FUNCTION convene_digest_schedule_for_membership();

-- A new zone, digest hour or weekday may make a digest due earlier than planned: the sweep
-- looks at the member at once and recomputes.
CREATE FUNCTION convene_digest_schedule_for_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.time_zone, NEW.digest_hour, NEW.weekly_day) IS DISTINCT FROM (OLD.time_zone, OLD.digest_hour, OLD.weekly_day) THEN
    UPDATE digest_schedules SET next_due_at = least(next_due_at, covered_to) WHERE member_id = NEW.id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER members_digest_schedule AFTER UPDATE OF time_zone, digest_hour, weekly_day ON members
  FOR EACH ROW EXECUTE FUNCTION convene_digest_schedule_for_member();

-- Members already on daily or weekly delivery start from now.
INSERT INTO digest_schedules (member_id, cadence, covered_to, next_due_at, updated_at)
SELECT DISTINCT member_id, delivery, now(), now(), now() FROM memberships WHERE delivery IN ('daily', 'weekly');
