-- Every instance keeps rendered ICS feeds in memory. These triggers tell all of them (LISTEN
-- convene_feeds) what changed, in the committing transaction: 'c:<community id>' for a
-- community's meetings, 'm:<member id>' for a member's own feed, '*' for everything.
-- Identical notifications within one transaction are delivered once.

CREATE FUNCTION convene_feeds_notify_community() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    PERFORM pg_notify('convene_feeds', 'c:' || OLD.community_id);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM pg_notify('convene_feeds', 'c:' || NEW.community_id);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION convene_feeds_notify_community_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_feeds', 'c:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$;

CREATE FUNCTION convene_feeds_notify_exception() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_feeds', 'c:' || m.community_id)
    FROM meetings m WHERE m.id = CASE WHEN TG_OP = 'DELETE' THEN OLD.meeting_id ELSE NEW.meeting_id END;
  RETURN NULL;
END $$;

CREATE FUNCTION convene_feeds_notify_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_feeds', 'm:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.member_id ELSE NEW.member_id END);
  RETURN NULL;
END $$;

CREATE FUNCTION convene_feeds_notify_member_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_feeds', 'm:' || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
  RETURN NULL;
END $$;

CREATE FUNCTION convene_feeds_notify_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('convene_feeds', '*');
  RETURN NULL;
END $$;

CREATE TRIGGER meetings_feeds AFTER INSERT OR UPDATE OR DELETE ON meetings
  FOR EACH ROW EXECUTE FUNCTION convene_feeds_notify_community();
CREATE TRIGGER meeting_exceptions_feeds AFTER INSERT OR UPDATE OR DELETE ON meeting_exceptions
  FOR EACH ROW EXECUTE FUNCTION convene_feeds_notify_exception();
CREATE TRIGGER communities_feeds AFTER UPDATE OR DELETE ON communities
  FOR EACH ROW EXECUTE FUNCTION convene_feeds_notify_community_row();
CREATE TRIGGER memberships_feeds AFTER INSERT OR UPDATE OR DELETE ON memberships
  FOR EACH ROW EXECUTE FUNCTION convene_feeds_notify_member();
CREATE TRIGGER members_feeds AFTER UPDATE ON members
  FOR EACH ROW EXECUTE FUNCTION convene_feeds_notify_member_row();
CREATE TRIGGER rooms_feeds AFTER UPDATE OR DELETE ON rooms
  FOR EACH STATEMENT EXECUTE FUNCTION convene_feeds_notify_all();
