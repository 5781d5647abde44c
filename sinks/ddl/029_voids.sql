-- Voided contacts from the suppressions alone, beside contact_folds: the progress board's
-- "Counted once" counts these. contact_events_voided joins every stored contact of the
-- campaign (FINAL) to find the same rows, seconds at a cycle's size; a void is written only
-- for a stored contact (sinks/corrections.py reads them from contact_events) and the ledger
-- never deletes one, so both have the same rows. contact_events_voided stays, with every
-- column of the contact, for analysts.
CREATE VIEW IF NOT EXISTS contact_voids AS
SELECT org_id, campaign_id, event_id, ref AS correction_id, reason AS void_reason,
    requested_by AS voided_by, decided_at AS voided_at
FROM contact_suppressions FINAL
WHERE kind = 'void' AND active = 1;
