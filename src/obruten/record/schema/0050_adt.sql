-- ADT (admission, discharge, transfer) and reserve numbers (reservnummer).
--
-- A stay on a unit is an ``admission`` entry (0001): admitting inserts version 1, a transfer ends it
-- (a new version with discharged_at) and opens one on the new unit, a discharge ends it. Every
-- admit, transfer, discharge and merge is also one row here, never changed: the patient's movements
-- in the order they were signed, what the ward list, access and ward kits follow.

CREATE TABLE adt_event (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  bigint NOT NULL REFERENCES patient(id),
    kind        text NOT NULL CHECK (kind IN ('admit', 'transfer', 'discharge', 'merge')),
    from_unit   text REFERENCES care_unit(id),
    to_unit     text REFERENCES care_unit(id),
    admission   uuid,                 -- the admission entry opened (admit, transfer) or ended (discharge)
    clinical_at timestamptz NOT NULL, -- when it happened on the ward
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'admit' OR (to_unit IS NOT NULL AND from_unit IS NULL)),
    CHECK (kind <> 'transfer' OR (to_unit IS NOT NULL AND from_unit IS NOT NULL AND to_unit <> from_unit)),
    CHECK (kind <> 'discharge' OR (from_unit IS NOT NULL AND to_unit IS NULL))
);
CREATE INDEX adt_event_patient ON adt_event (patient_id, clinical_at DESC);
SELECT make_append_only('adt_event');

-- Reserve numbers: 99SSSSSS-SSSC, a serial from this sequence and a Luhn check digit over it
-- (record/personal_number.py, docs/adr/0046). No real personal number starts with 99 (there is no
-- year 99xx), so a reserve number never collides with one and is recognisable at a glance.
-- Serials 1 … 499 999 999 are the journal's own; ward agents' blocks start at 500 000 000 (0065).
CREATE SEQUENCE reserve_number_seq MAXVALUE 499999999;
ALTER TABLE patient ADD COLUMN reserve boolean NOT NULL DEFAULT false;
ALTER TABLE patient ADD CONSTRAINT patient_reserve_prefix CHECK (reserve = (personal_number LIKE '99%'));

-- A reserve number merged into the patient's real identity. One row per reserve number, never
-- changed; the old number resolves to ``into_patient``. Only merge_patient() writes here
-- (roles.sql revokes INSERT from the journal's role).
CREATE TABLE patient_merge (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_patient bigint NOT NULL UNIQUE REFERENCES patient(id),
    into_patient bigint NOT NULL REFERENCES patient(id),
    merged_by    bigint NOT NULL REFERENCES staff(id),
    merged_at    timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL CHECK (length(btrim(reason)) >= 3),
    txid         bigint NOT NULL DEFAULT txid_current(),
    CHECK (from_patient <> into_patient)
);
CREATE INDEX patient_merge_into ON patient_merge (into_patient);
SELECT make_append_only('patient_merge');

-- Append-only, with one exception: inside the transaction that records a merge, a row's
-- patient_id may move from the reserve number to the real identity, and nothing else may change.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME NOT IN ('audit_event', 'patient_merge')
       AND to_jsonb(OLD) ? 'patient_id'
       AND (to_jsonb(NEW) - 'patient_id') = (to_jsonb(OLD) - 'patient_id')
       AND EXISTS (SELECT 1 FROM patient_merge m
                   WHERE m.from_patient = (to_jsonb(OLD) ->> 'patient_id')::bigint
                     AND m.into_patient = (to_jsonb(NEW) ->> 'patient_id')::bigint
                     AND m.txid = txid_current()) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'obruten: % on % refused: entries are append-only; record a correction as a new version',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- Merge a reserve number into a real identity: record the merge, then move every row of the
-- record (every table with a patient_id except the audit log, which keeps what happened under
-- which number) to the real identity. Returns what moved, per table.
CREATE FUNCTION merge_patient(p_from bigint, p_into bigint, p_by bigint, p_reason text)
RETURNS TABLE (tbl text, moved bigint) LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    t record;
    n bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM patient WHERE id = p_from AND reserve) THEN
        RAISE EXCEPTION 'obruten: only a reserve number can be merged into another identity' USING ERRCODE = 'check_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM patient WHERE id = p_into AND NOT reserve)
       OR EXISTS (SELECT 1 FROM patient_merge WHERE from_patient = p_into) THEN
        RAISE EXCEPTION 'obruten: merge into a real identity (a personal number), not another reserve number'
            USING ERRCODE = 'check_violation';
    END IF;
    INSERT INTO patient_merge (from_patient, into_patient, merged_by, reason) VALUES (p_from, p_into, p_by, p_reason);
    FOR t IN SELECT c.oid::regclass AS name FROM pg_class c
             JOIN pg_namespace ns ON ns.oid = c.relnamespace
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'patient_id' AND NOT a.attisdropped
             WHERE ns.nspname = 'public' AND c.relkind = 'r'
               AND c.relname NOT IN ('audit_event', 'patient_merge', 'reserve_patient', 'reserve_identity_link')
             ORDER BY c.relname
    LOOP
        EXECUTE format('UPDATE %s SET patient_id = $1 WHERE patient_id = $2', t.name) USING p_into, p_from;
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n > 0 THEN
            tbl := t.name::text;
            moved := n;
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;
