-- DESIGN §3 now reads a local time in a spring-forward gap as RFC 5545 §3.3.5 does: shifted
-- forward by the length of the gap (02:30 in New York on a spring-forward Sunday is 03:30 EDT).
-- Earlier releases took the transition instant (03:00 EDT). This moves what they stored for such
-- times; times that happen twice keep the first, as before, and are not touched.
--
-- PostgreSQL reads a time in a gap the same way (timestamp AT TIME ZONE zone, from the system's
-- tzdata); a time is in a gap when it does not read back as itself.

-- Meetings whose own start or end is in a gap. A one-off from 02:30 to 03:30 on that day would
-- now last no time at all: it keeps the length it had.
UPDATE meetings m
   SET starts_at = n.starts_at,
       ends_at = CASE WHEN n.ends_at > n.starts_at THEN n.ends_at ELSE n.starts_at + (o.ends_at - o.starts_at) END
  FROM meetings o
 CROSS JOIN LATERAL (SELECT o.start_local AT TIME ZONE o.time_zone AS fixed) s0
 CROSS JOIN LATERAL (SELECT s0.fixed, s0.fixed AT TIME ZONE o.time_zone <> o.start_local AS in_gap) s
 CROSS JOIN LATERAL (SELECT o.end_local AT TIME ZONE o.time_zone AS fixed) e0
 CROSS JOIN LATERAL (SELECT e0.fixed, e0.fixed AT TIME ZONE o.time_zone <> o.end_local AS in_gap) e
 CROSS JOIN LATERAL (SELECT CASE WHEN s.in_gap THEN s.fixed ELSE o.starts_at END AS starts_at,
                            CASE WHEN e.in_gap THEN e.fixed ELSE o.ends_at END AS ends_at) n
 WHERE o.id = m.id AND NOT o.all_day
   AND ((s.in_gap AND s.fixed <> o.starts_at) OR (e.in_gap AND e.fixed <> o.ends_at));

-- Cancelled or moved occurrences, and room bookings, of a series' occurrence in a gap: they are
-- keyed by the occurrence's instant, which was the transition instant ending the gap. The
-- occurrence's local time is the series' time of day on that date.
CREATE TEMPORARY TABLE gap_occurrences ON COMMIT DROP AS
SELECT k.meeting_id, k.recurrence_id AS old_id, l.local AT TIME ZONE m.time_zone AS new_id
  FROM (SELECT meeting_id, recurrence_id FROM meeting_exceptions
         UNION SELECT meeting_id, recurrence_id FROM room_bookings) k
  JOIN meetings m ON m.id = k.meeting_id
 CROSS JOIN LATERAL (SELECT (k.recurrence_id AT TIME ZONE m.time_zone)::date + m.start_local::time AS local) l
 WHERE m.rrule IS NOT NULL AND NOT m.all_day
   AND (l.local AT TIME ZONE m.time_zone) AT TIME ZONE m.time_zone <> l.local  -- in a gap
   AND k.recurrence_id AT TIME ZONE m.time_zone > l.local                      -- the gap's end:
   AND (k.recurrence_id - interval '1 second') AT TIME ZONE m.time_zone < l.local;  -- after it, before it

UPDATE meeting_exceptions x SET recurrence_id = g.new_id
  FROM gap_occurrences g
 WHERE x.meeting_id = g.meeting_id AND x.recurrence_id = g.old_id
   AND NOT EXISTS (SELECT 1 FROM meeting_exceptions y WHERE y.meeting_id = g.meeting_id AND y.recurrence_id = g.new_id);

-- A booking moves with its occurrence (a moved occurrence's booking keeps its own time). Where
-- the room is taken at the new time the booking stays where it was, and a warning names it:
-- the coordinator picks another room or time (PATCH the meeting).
DO $$
DECLARE
  b record;
BEGIN
  FOR b IN
    SELECT r.meeting_id, r.recurrence_id, g.new_id,
           CASE WHEN x.meeting_id IS NULL THEN g.new_id - g.old_id ELSE interval '0' END AS shift
      FROM room_bookings r
      JOIN gap_occurrences g ON g.meeting_id = r.meeting_id AND g.old_id = r.recurrence_id
      LEFT JOIN meeting_exceptions x ON x.meeting_id = r.meeting_id AND x.recurrence_id = g.new_id AND NOT x.cancelled
  LOOP
    BEGIN
      UPDATE room_bookings
         SET recurrence_id = b.new_id,
             during = tstzrange(lower(during) + b.shift, upper(during) + b.shift, '[)')
       WHERE meeting_id = b.meeting_id AND recurrence_id = b.recurrence_id;
    EXCEPTION WHEN exclusion_violation OR unique_violation THEN
      RAISE WARNING 'meeting %: the room is taken at % (its occurrence in a DST gap moved there); '
                    'the booking stays at %', b.meeting_id, b.new_id, b.recurrence_id;
    END;
  END LOOP;
END
$$;
