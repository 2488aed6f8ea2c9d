-- The preferences page (DESIGN §4): its links are signed tokens that carry the member's link
-- version (notifiers/signed_token). "Invalidate old links" on the page adds one, and a token of
-- an older version is refused. 0 is what links made before this column existed carry.
ALTER TABLE members ADD COLUMN preferences_link_version integer NOT NULL DEFAULT 0
  CHECK (preferences_link_version >= 0);
