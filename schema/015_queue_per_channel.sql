-- Each channel is claimed on its own (the delivery worker's lanes): emails and webhooks never
-- wait for each other's claims or slots. The queue index leads with the channel, so a lane's
-- claim walks only its own channel's rows in (due_at, id) order, from its last position.
CREATE INDEX notifications_queue_channel_idx ON notifications (channel, due_at, id) WHERE queued;
DROP INDEX notifications_queue_position_idx;
