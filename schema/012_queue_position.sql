-- The queue index orders rows by (due_at, id): every queued row has a position of its own, so a
-- claim can go on from the position where the last one ended.
--
-- A claim walked the queue from its start, past every row in flight (they stay in the queue
-- until their outcome is recorded): with 1,000 in flight, a claim of 250 took 1.9 ms instead
-- of 1.1 ms in a lab run. The delivery worker now continues from its last claim's position and
-- walks from the start again when a claim comes back short or a second has passed, for rows
-- that became due behind the position (a lease that ran out, a late commit).
CREATE INDEX notifications_queue_position_idx ON notifications (due_at, id) WHERE queued;
DROP INDEX notifications_queue_idx;
