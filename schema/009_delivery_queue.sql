-- The delivery worker's queue, shaped so that claiming a notification is a HOT update.
--
-- 001 indexed the queue by state (due_at WHERE state IN ('pending', 'sending'), and
-- (member_id, community_id) WHERE state = 'pending'), so every change of state, the claim
-- included, inserted into every index of the table; and the next-due question
-- (min(lease_expires_at) of those sending) had no index at all: a scan of the table per claim.
--
-- `queued` is true until a notification is finished (sent, dead or cancelled). Claiming
-- (pending -> sending) leaves it, and every indexed column, unchanged, so PostgreSQL updates
-- the row in place (heap-only tuple, no index insertions) when its page has room: fillfactor.
ALTER TABLE notifications
  ADD COLUMN queued boolean GENERATED ALWAYS AS (state IN ('pending', 'sending')) STORED;
ALTER TABLE notifications SET (fillfactor = 70);

DROP INDEX notifications_due_idx;
DROP INDEX notifications_member_idx;
-- Claims walk this in due order, past the few in flight; the next-due question too.
CREATE INDEX notifications_queue_idx ON notifications (due_at) WHERE queued;
-- Leaving a community cancels its queued notifications for that member.
CREATE INDEX notifications_member_queue_idx ON notifications (member_id, community_id) WHERE queued;
