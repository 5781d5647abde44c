-- partner_contacts gets the org_id every table with org data has, so an org's analysts read
-- only their org's rows (row policies on a server, the query door's filters on chDB). Our own
-- contacts (partner = 'self') belong to the org that made them; a partner's records to the org
-- the exchange settings name for that partner (inbound_orgs), '' otherwise (fieldstream's own
-- users only). Rows stored before this column get the same rule for 'self' and '' for partners.
ALTER TABLE partner_contacts ADD COLUMN IF NOT EXISTS org_id LowCardinality(String)
    DEFAULT if(partner = 'self', toString(sharing_org), '');
