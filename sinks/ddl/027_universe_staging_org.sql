-- A universe file's staged rows say whose they are, like every other org table: the query
-- door then lets an analyst see only their own org's staging, and the admin credential
-- (which loads universes) every org's.
ALTER TABLE universe_staging ADD COLUMN IF NOT EXISTS org_id LowCardinality(String) DEFAULT '';
