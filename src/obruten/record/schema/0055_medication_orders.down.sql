-- Undo 0055: the views go back to the columns of 0001, then the new columns and indexes go (the
-- substance, form, PRN maximum, allergy reasons, stop reasons, slots and confirmations with them).
DROP VIEW medication_order_current;
DROP VIEW medication_administration_current;
DROP INDEX medication_order_submission;
DROP INDEX medication_administration_submission;
DROP INDEX medication_administration_slot;
ALTER TABLE medication_order
    DROP CONSTRAINT medication_order_stop_who,
    DROP COLUMN substance, DROP COLUMN form, DROP COLUMN prn_max_per_24h, DROP COLUMN allergy_override_reason,
    DROP COLUMN stop_reason, DROP COLUMN stopped_by, DROP COLUMN submission;
ALTER TABLE medication_administration
    DROP COLUMN slot_at, DROP COLUMN confirm_reason, DROP COLUMN submission;
CREATE VIEW medication_order_current AS
    SELECT * FROM medication_order e WHERE NOT EXISTS (SELECT 1 FROM medication_order n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW medication_administration_current AS
    SELECT * FROM medication_administration e WHERE NOT EXISTS (SELECT 1 FROM medication_administration n WHERE n.entry_id = e.entry_id AND n.version > e.version);
