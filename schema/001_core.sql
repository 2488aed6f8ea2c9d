-- Core tables of DESIGN §2 (domain) and §4 (outbox, notifications), the job table of §3 and
-- API tokens. Applied once by `convened migrate`; never edit it after it has been applied:
-- put changes in a new, higher-numbered migration.

-- Equality on bigint inside a GiST exclusion constraint (room_id WITH =).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE communities (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  slug           text NOT NULL UNIQUE
                 CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(slug) <= 64),
  name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description    text NOT NULL DEFAULT '' CHECK (length(description) <= 10000),
  time_zone      text NOT NULL,
  visibility     text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'members')),
  status         text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  topic_cadence  interval CHECK (topic_cadence IS NULL OR topic_cadence > interval '0'),
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  archived_at    timestamptz,
  CHECK ((status = 'archived') = (archived_at IS NOT NULL))
);

-- History of splits and merges: a community points to its successors.
CREATE TABLE community_successors (
  predecessor_id bigint NOT NULL REFERENCES communities (id),
  successor_id   bigint NOT NULL REFERENCES communities (id),
  relation       text NOT NULL CHECK (relation IN ('split', 'merge')),
  created_at     timestamptz NOT NULL,
  PRIMARY KEY (predecessor_id, successor_id),
  CHECK (predecessor_id <> successor_id)
);

CREATE TABLE members (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND email LIKE '%_@_%'),
  name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  time_zone        text NOT NULL,
  digest_hour      smallint NOT NULL DEFAULT 7 CHECK (digest_hour BETWEEN 0 AND 23),
  weekly_day       smallint NOT NULL DEFAULT 1 CHECK (weekly_day BETWEEN 1 AND 7),  -- ISO: 1 = Monday
  reminder_offsets interval[] NOT NULL DEFAULT '{1 day,1 hour}',
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL
);
-- Email addresses are unique regardless of case.
CREATE UNIQUE INDEX members_email_key ON members (lower(email));

CREATE TABLE memberships (
  member_id    bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  community_id bigint NOT NULL REFERENCES communities (id),
  delivery     text NOT NULL CHECK (delivery IN ('realtime', 'daily', 'weekly', 'none')),
  joined_at    timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  PRIMARY KEY (member_id, community_id)
);
CREATE INDEX memberships_community_idx ON memberships (community_id, delivery);

-- Volunteer leadership roles: per community, or global (committee, admin) with no community.
CREATE TABLE roles (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id    bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  community_id bigint REFERENCES communities (id),
  role         text NOT NULL CHECK (role IN ('discussion_monitor', 'meeting_coordinator',
                                             'event_coordinator', 'committee', 'admin')),
  starts_on    date NOT NULL,
  ends_on      date CHECK (ends_on IS NULL OR ends_on >= starts_on),
  created_at   timestamptz NOT NULL,
  CHECK ((role IN ('committee', 'admin')) = (community_id IS NULL))
);
CREATE UNIQUE INDEX roles_unique_start ON roles (member_id, coalesce(community_id, 0), role, starts_on);
CREATE INDEX roles_community_idx ON roles (community_id, role);

CREATE TABLE rooms (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name       text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 200),
  join_url   text NOT NULL CHECK (join_url ~ '^https?://' AND length(join_url) <= 2000),
  capacity   integer NOT NULL CHECK (capacity > 0),
  created_at timestamptz NOT NULL
);

-- A meeting or event series. Local wall-clock times and their IANA zone are the source of
-- truth (a weekly meeting keeps its local time across DST); starts_at/ends_at hold the first
-- occurrence as instants for queries.
CREATE TABLE meetings (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  uid          text NOT NULL UNIQUE,
  community_id bigint NOT NULL REFERENCES communities (id),
  kind         text NOT NULL CHECK (kind IN ('annual', 'meeting', 'special_event', 'deadline')),
  title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  description  text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
  time_zone    text NOT NULL,
  all_day      boolean NOT NULL DEFAULT false,
  start_local  timestamp NOT NULL,
  end_local    timestamp NOT NULL CHECK (end_local > start_local),
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL CHECK (ends_at > starts_at),
  rrule        text CHECK (rrule IS NULL OR length(rrule) <= 1000),
  room_id      bigint REFERENCES rooms (id),
  organiser_id bigint REFERENCES members (id) ON DELETE SET NULL,
  status       text NOT NULL DEFAULT 'confirmed' CHECK (status IN ('tentative', 'confirmed', 'cancelled')),
  sequence     integer NOT NULL DEFAULT 0 CHECK (sequence >= 0),
  annual_year  integer CHECK (annual_year IS NULL OR annual_year BETWEEN 2000 AND 2200),
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  cancelled_at timestamptz,
  CHECK ((kind = 'annual') = (annual_year IS NOT NULL))
);
-- One annual meeting per community and year.
CREATE UNIQUE INDEX meetings_annual_key ON meetings (community_id, annual_year) WHERE kind = 'annual';
CREATE INDEX meetings_community_idx ON meetings (community_id, starts_at);

-- Cancelled or moved single occurrences of a series, keyed by the original start (RECURRENCE-ID).
CREATE TABLE meeting_exceptions (
  meeting_id    bigint NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
  recurrence_id timestamptz NOT NULL,
  cancelled     boolean NOT NULL DEFAULT false,
  start_local   timestamp,
  end_local     timestamp,
  starts_at     timestamptz,
  ends_at       timestamptz,
  sequence      integer NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (meeting_id, recurrence_id),
  CHECK (cancelled OR (starts_at IS NOT NULL AND ends_at > starts_at AND start_local IS NOT NULL
                       AND end_local > start_local))
);

-- Every occurrence that occupies a room within the booking horizon. The exclusion constraint
-- is what guarantees that a room is never double-booked, whichever instance inserts.
CREATE TABLE room_bookings (
  meeting_id    bigint NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
  recurrence_id timestamptz NOT NULL,
  room_id       bigint NOT NULL REFERENCES rooms (id),
  during        tstzrange NOT NULL CHECK (NOT isempty(during)),
  PRIMARY KEY (meeting_id, recurrence_id),
  CONSTRAINT room_bookings_no_overlap EXCLUDE USING gist (room_id WITH =, during WITH &&)
);

CREATE TABLE topics (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  community_id bigint NOT NULL REFERENCES communities (id),
  author_id    bigint REFERENCES members (id) ON DELETE SET NULL,
  title        text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
  body         text NOT NULL DEFAULT '' CHECK (length(body) <= 50000),
  url          text CHECK (url IS NULL OR (url ~ '^https?://' AND length(url) <= 2000)),
  posted_at    timestamptz NOT NULL
);
CREATE INDEX topics_community_idx ON topics (community_id, posted_at DESC);

-- Outbox: written in the same transaction as the change that causes the event.
CREATE TABLE events (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind          text NOT NULL CHECK (kind IN (
                  'community.updated', 'community.split', 'community.merged',
                  'member.joined', 'member.left', 'role.assigned', 'role.ending',
                  'meeting.scheduled', 'meeting.updated', 'meeting.cancelled', 'meeting.reminder',
                  'annual_meeting.scheduled', 'annual_meeting.tbd', 'topic.posted',
                  'topic.overdue', 'review.due')),
  community_id  bigint REFERENCES communities (id),
  payload       jsonb NOT NULL DEFAULT '{}',
  occurred_at   timestamptz NOT NULL,
  fanned_out_at timestamptz
);
CREATE INDEX events_unfanned_idx ON events (id) WHERE fanned_out_at IS NULL;
CREATE INDEX events_community_idx ON events (community_id, occurred_at);

-- One message to one recipient over one channel. The id is the email's Message-ID and the
-- webhook's webhook-id, so receivers can drop duplicates of an at-least-once delivery.
CREATE TABLE notifications (
  id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  dedupe_key       text NOT NULL UNIQUE,
  event_id         bigint REFERENCES events (id),
  member_id        bigint REFERENCES members (id) ON DELETE CASCADE,
  community_id     bigint REFERENCES communities (id),
  channel          text NOT NULL CHECK (channel IN ('email', 'webhook')),
  kind             text NOT NULL,
  recipient        text NOT NULL,
  payload          jsonb NOT NULL DEFAULT '{}',
  state            text NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending', 'sending', 'sent', 'dead', 'cancelled')),
  due_at           timestamptz NOT NULL,
  attempts         integer NOT NULL DEFAULT 0,
  lease_owner      text,
  lease_expires_at timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL,
  sent_at          timestamptz
);
CREATE INDEX notifications_due_idx ON notifications (due_at) WHERE state IN ('pending', 'sending');
CREATE INDEX notifications_member_idx ON notifications (member_id, community_id) WHERE state = 'pending';

CREATE TABLE notification_attempts (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  notification_id uuid NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
  attempted_at    timestamptz NOT NULL,
  outcome         text NOT NULL CHECK (outcome IN ('sent', 'transient', 'permanent')),
  response_code   integer,
  response_text   text
);
CREATE INDEX notification_attempts_idx ON notification_attempts (notification_id, attempted_at);

-- Durable jobs: a claim is a lease; (kind, unique_key) makes planning idempotent.
CREATE TABLE jobs (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind             text NOT NULL,
  unique_key       text NOT NULL,
  payload          jsonb NOT NULL DEFAULT '{}',
  due_at           timestamptz NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  lease_owner      text,
  lease_expires_at timestamptz,
  last_error       text,
  created_at       timestamptz NOT NULL,
  updated_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  UNIQUE (kind, unique_key)
);
CREATE INDEX jobs_due_idx ON jobs (due_at) WHERE state IN ('pending', 'running');

-- Bearer, feed and preferences tokens: only a SHA-256 hash is stored.
CREATE TABLE tokens (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  member_id    bigint NOT NULL REFERENCES members (id) ON DELETE CASCADE,
  purpose      text NOT NULL CHECK (purpose IN ('api', 'feed', 'preferences')),
  token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  label        text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL,
  last_used_at timestamptz,
  expires_at   timestamptz,
  revoked_at   timestamptz
);
CREATE INDEX tokens_member_idx ON tokens (member_id, purpose);
