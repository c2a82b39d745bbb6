-- Structured medication orders and administrations against the schedule (issue 14, ADR 0047).
--
-- An order now names its substance and pharmaceutical form beside the product (drug), keeps a PRN
-- maximum per 24 h, and records why it was signed despite a matching allergy. Stopping an order
-- stays a new version (append-only): that version carries stop_at, who stopped it (stopped_by)
-- and why (stop_reason), so the Utsatta list reads them without walking the history.
-- An administration names the dose slot it signs (slot_at: the scheduled time; NULL for PRN or
-- downtime post-registration), why a repeated slot or a PRN dose beyond the maximum was accepted
-- (confirm_reason), and the form submission that made it (submission: a double-click or a reload
-- finds the first row instead of writing a second). Rows are still never updated.

ALTER TABLE medication_order
    ADD COLUMN substance text NOT NULL DEFAULT '' CHECK (length(substance) <= 200),
    ADD COLUMN form text NOT NULL DEFAULT '' CHECK (length(form) <= 100),
    ADD COLUMN prn_max_per_24h integer CHECK (prn_max_per_24h IS NULL OR prn_max_per_24h BETWEEN 1 AND 48),
    ADD COLUMN allergy_override_reason text CHECK (allergy_override_reason IS NULL OR length(btrim(allergy_override_reason)) >= 3),
    ADD COLUMN stop_reason text CHECK (stop_reason IS NULL OR length(btrim(stop_reason)) >= 3),
    ADD COLUMN stopped_by bigint REFERENCES staff(id),
    ADD COLUMN submission uuid,
    ADD CONSTRAINT medication_order_stop_who CHECK ((stop_reason IS NULL) = (stopped_by IS NULL));

ALTER TABLE medication_administration
    ADD COLUMN slot_at timestamptz,
    ADD COLUMN confirm_reason text CHECK (confirm_reason IS NULL OR length(btrim(confirm_reason)) >= 3),
    ADD COLUMN submission uuid;

-- one row per form submission (version 1; corrections copy the key, so it is unique per version 1)
CREATE UNIQUE INDEX medication_order_submission ON medication_order (submission) WHERE submission IS NOT NULL AND version = 1;
CREATE UNIQUE INDEX medication_administration_submission ON medication_administration (submission)
    WHERE submission IS NOT NULL AND version = 1;
CREATE INDEX medication_administration_slot ON medication_administration (order_entry, slot_at) WHERE slot_at IS NOT NULL;

-- the views were SELECT * of the old columns: recreate them so they show the new ones
CREATE OR REPLACE VIEW medication_order_current AS
    SELECT * FROM medication_order e WHERE NOT EXISTS (SELECT 1 FROM medication_order n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE OR REPLACE VIEW medication_administration_current AS
    SELECT * FROM medication_administration e WHERE NOT EXISTS (SELECT 1 FROM medication_administration n WHERE n.entry_id = e.entry_id AND n.version > e.version);
