-- Webhook endpoints (DESIGN §4): a member's, filtered by event type and community, or a
-- community's, managed by its coordinators. The secret signs deliveries (Standard Webhooks),
-- so it is kept as issued; during a rotation the previous one signs too until it expires.
CREATE TABLE webhook_endpoints (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id             bigint REFERENCES members (id) ON DELETE CASCADE,
  community_id          bigint REFERENCES communities (id),
  url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
  event_types           text[] NOT NULL DEFAULT '{}',  -- empty: every event type
  communities           bigint[],                      -- member endpoints: only these; NULL: all of theirs
  secret                text NOT NULL CHECK (secret LIKE 'whsec\_%'),
  previous_secret       text,
  previous_secret_until timestamptz,
  status                text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
  disabled_reason       text,
  failing_since         timestamptz,                   -- first failure of the current failing streak
  created_by            bigint REFERENCES members (id) ON DELETE SET NULL,
  created_at            timestamptz NOT NULL,
  updated_at            timestamptz NOT NULL,
  CHECK ((member_id IS NULL) <> (community_id IS NULL)),
  CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);
CREATE INDEX webhook_endpoints_member_idx ON webhook_endpoints (member_id) WHERE status = 'active';
CREATE INDEX webhook_endpoints_community_idx ON webhook_endpoints (community_id) WHERE status = 'active';

-- A webhook notification goes to one endpoint.
ALTER TABLE notifications ADD COLUMN endpoint_id bigint REFERENCES webhook_endpoints (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_target
  CHECK ((channel = 'webhook') = (endpoint_id IS NOT NULL));

-- Keys the daemon signs with (unsubscribe and preferences links), shared by every instance.
-- Made once, by whichever instance needs one first.
CREATE TABLE server_secrets (
  name       text PRIMARY KEY,
  secret     bytea NOT NULL CHECK (length(secret) >= 32),
  created_at timestamptz NOT NULL
);

-- New or rescheduled notifications wake the delivery workers of every instance at once.
CREATE FUNCTION convene_notifications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_notifications', '');
  RETURN NULL;
END $$;
CREATE TRIGGER notifications_notify_insert AFTER INSERT ON notifications
  FOR EACH STATEMENT EXECUTE FUNCTION convene_notifications_notify();
CREATE TRIGGER notifications_notify_due AFTER UPDATE OF due_at ON notifications
  FOR EACH STATEMENT EXECUTE FUNCTION convene_notifications_notify();

-- Notifications are a queue too.
ALTER TABLE notifications SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
                               autovacuum_analyze_scale_factor = 0.02);
