-- What a ward needs on paper that the record had no place for, and a wake-up call for the kit
-- builder on every write that changes a unit's kit (issue 15, docs/adr/0048-shift-kit.md).
--
-- kit_fact: a versioned entry (append-only, corrections are new versions, like every entry) per
-- patient and kind. The latest version of a kind is in force:
--   weight_kg              value: kilograms, e.g. '72.5'
--   code_status            value: 'hlr' (full resuscitation) or 'ej_hlr' (do not resuscitate)
--   bed                    value: the bed/room label on the ward, e.g. '12B'
--   responsible_physician  staff_id: the patient's responsible physician (PAL)
CREATE TABLE kit_fact (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES kit_fact(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    kind        text NOT NULL CHECK (kind IN ('weight_kg', 'code_status', 'bed', 'responsible_physician')),
    value       text NOT NULL DEFAULT '' CHECK (length(value) <= 100),
    staff_id    bigint REFERENCES staff(id),
    clinical_at timestamptz NOT NULL,
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version),
    CHECK ((kind = 'responsible_physician') = (staff_id IS NOT NULL)),
    CHECK (kind <> 'weight_kg' OR value ~ '^[0-9]{1,3}(\.[0-9])?$'),
    CHECK (kind <> 'code_status' OR value IN ('hlr', 'ej_hlr')),
    CHECK (kind <> 'bed' OR length(value) BETWEEN 1 AND 20)
);
CREATE INDEX kit_fact_entry ON kit_fact (entry_id, version DESC);
CREATE INDEX kit_fact_patient ON kit_fact (patient_id, kind, clinical_at DESC);
CREATE VIEW kit_fact_current AS
    SELECT * FROM kit_fact e WHERE NOT EXISTS (SELECT 1 FROM kit_fact n WHERE n.entry_id = e.entry_id AND n.version > e.version);
SELECT make_versioned_entry('kit_fact');

-- ---- kit freshness: NOTIFY obruten_kit, '<unit>' ------------------------------------------------
-- One statement-level trigger per table a kit reads, so every write path (journal, post-
-- registration, seed, psql) wakes the builder, once per unit per transaction (PostgreSQL folds
-- identical notifications of one transaction into one, delivered at commit; a rolled-back write
-- notifies nobody). The units are the row's own unit_id (where the table has one: an admission's
-- unit, including the unit a transfer left) and every unit the patient is admitted to.
CREATE FUNCTION notify_kit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    u text;
BEGIN
    FOR u IN
        SELECT DISTINCT s.unit FROM (
            SELECT to_jsonb(n) ->> 'unit_id' AS unit FROM new_rows n
            UNION
            SELECT a.unit_id FROM admission a JOIN (SELECT DISTINCT patient_id FROM new_rows) n
                ON a.patient_id = n.patient_id
            WHERE a.discharged_at IS NULL
        ) s WHERE s.unit IS NOT NULL
    LOOP
        PERFORM pg_notify('obruten_kit', u);
    END LOOP;
    RETURN NULL;
END $$;

-- Tables added later that a kit reads call this too (e.g. structured dose slots).
CREATE FUNCTION make_kit_notifying(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER kit_notify AFTER INSERT ON %s REFERENCING NEW TABLE AS new_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION notify_kit()', tbl);
END $$;

SELECT make_kit_notifying(t) FROM unnest(ARRAY[
    'admission', 'note', 'diagnosis', 'warning', 'medication_order', 'medication_administration',
    'referral', 'referral_result', 'kit_fact']::regclass[]) AS t;
