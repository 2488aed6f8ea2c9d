-- Addresses a relay refused for good (SMTP 5xx to RCPT TO or to the message): later emails to
-- them are not attempted but finish as 'suppressed' at claim. Keyed by the address lower-cased,
-- as the claim compares it. An admin removes an entry (DELETE /v1/admin/suppressions/{address}),
-- and so does the member changing their email address.
CREATE TABLE suppressions (
  address          text PRIMARY KEY CHECK (address = lower(address) AND address <> ''),
  code             integer,       -- the SMTP reply code of the last refusal
  reason           text NOT NULL, -- its code and text, as recorded in the attempt
  notification_id  uuid NOT NULL, -- the notification last refused (not a foreign key: it may be deleted)
  first_refused_at timestamptz NOT NULL,
  last_refused_at  timestamptz NOT NULL
);
-- The admin list, newest refusals first.
CREATE INDEX suppressions_last_refused_idx ON suppressions (last_refused_at DESC, address);

-- A suppressed notification is finished without an attempt (not queued, like sent and dead).
ALTER TABLE notifications DROP CONSTRAINT notifications_state_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_state_check
  CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'cancelled', 'suppressed'));
