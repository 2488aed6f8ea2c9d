-- Wall-clock times may run backwards across a fall-back DST change: a meeting from 01:30 BST
-- to 01:10 GMT lasts 40 minutes. Order is checked on the instants (starts_at < ends_at) only.
ALTER TABLE meetings DROP CONSTRAINT meetings_check;

ALTER TABLE meeting_exceptions DROP CONSTRAINT meeting_exceptions_check;
ALTER TABLE meeting_exceptions ADD CONSTRAINT meeting_exceptions_moved_has_times
  CHECK (cancelled OR (starts_at IS NOT NULL AND ends_at > starts_at AND start_local IS NOT NULL
                       AND end_local IS NOT NULL));
