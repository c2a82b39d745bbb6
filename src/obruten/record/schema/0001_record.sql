-- The patient record: register tables, append-only versioned entries, audit log, order numbers.
-- Times are timestamptz (stored as UTC). Entries are never updated or deleted: a correction is a
-- new version (version + 1) that supersedes the previous one; triggers refuse UPDATE, DELETE and
-- TRUNCATE on every entry table.

CREATE TABLE hospital (
    id   text PRIMARY KEY,
    name text NOT NULL
);

CREATE TABLE care_unit (
    id          text PRIMARY KEY,
    hospital_id text NOT NULL REFERENCES hospital(id),
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('ward', 'clinic')),
    beds        integer NOT NULL DEFAULT 0 CHECK (beds >= 0)
);
CREATE INDEX care_unit_hospital ON care_unit (hospital_id);

CREATE TABLE staff (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,40}$'),
    full_name     text NOT NULL,
    role          text NOT NULL CHECK (role IN ('physician', 'nurse', 'admin', 'it')),
    password_hash text,            -- NULL: cannot log in until an admin sets a password
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE staff_unit (
    staff_id bigint NOT NULL REFERENCES staff(id),
    unit_id  text NOT NULL REFERENCES care_unit(id),
    PRIMARY KEY (staff_id, unit_id)
);
CREATE INDEX staff_unit_unit ON staff_unit (unit_id);

-- Personal numbers are YYYYMMDD-NNNC. The synthetic region's numbers carry a deliberately wrong
-- Luhn check digit, so none can belong to a real person (see obruten.personal_number).
CREATE TABLE patient (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    personal_number text NOT NULL UNIQUE CHECK (personal_number ~ '^[0-9]{8}-[0-9]{4}$'),
    given_name      text NOT NULL,
    family_name     text NOT NULL,
    birth_date      date NOT NULL,
    sex             text NOT NULL CHECK (sex IN ('F', 'M', 'X')),
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- ---- append-only machinery ------------------------------------------------------------------

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'obruten: % on % refused: entries are append-only; record a correction as a new version',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

-- A new version must supersede the latest version of the same entry, for the same patient.
CREATE FUNCTION check_version_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    prev record;
BEGIN
    IF NEW.version = 1 THEN
        IF NEW.supersedes IS NOT NULL THEN
            RAISE EXCEPTION 'obruten: version 1 of an entry cannot supersede another' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END IF;
    EXECUTE format('SELECT entry_id, version, patient_id FROM %I WHERE id = $1', TG_TABLE_NAME)
        INTO prev USING NEW.supersedes;
    IF prev IS NULL OR prev.entry_id <> NEW.entry_id OR prev.version <> NEW.version - 1
       OR prev.patient_id <> NEW.patient_id THEN
        RAISE EXCEPTION 'obruten: version % of entry % must supersede version %', NEW.version, NEW.entry_id, NEW.version - 1
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION make_append_only(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION refuse_change()',
                   'append_only_row', tbl);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION refuse_change()',
                   'append_only_truncate', tbl);
END $$;

CREATE FUNCTION make_versioned_entry(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM make_append_only(tbl);
    EXECUTE format('CREATE TRIGGER version_chain BEFORE INSERT ON %s FOR EACH ROW WHEN (NEW.version > 1) '
                   'EXECUTE FUNCTION check_version_chain()', tbl);
END $$;

-- Columns shared by every versioned entry (written out per table so each is plain SQL):
--   id          one row = one version
--   entry_id    the logical entry, the same across its versions
--   version     1, 2, …; supersedes = id of the previous version
--   signed_by   staff who signed this version; signed_at when it was recorded
--   clinical_at when it happened clinically (may be earlier than signed_at)
--   reason      why a correction was made (required from version 2)

CREATE TABLE admission (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES admission(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    unit_id     text NOT NULL REFERENCES care_unit(id),
    admitted_at timestamptz NOT NULL,
    discharged_at timestamptz CHECK (discharged_at IS NULL OR discharged_at >= admitted_at),
    cause       text NOT NULL DEFAULT '',
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

CREATE TABLE note (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES note(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    unit_id     text NOT NULL REFERENCES care_unit(id),
    kind        text NOT NULL CHECK (kind IN ('inskrivning', 'daganteckning', 'omvardnad', 'konsultation',
                                              'telefon', 'epikris')),
    title       text NOT NULL DEFAULT '',
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    clinical_at timestamptz NOT NULL,
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

CREATE TABLE diagnosis (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES diagnosis(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    code        text NOT NULL CHECK (code ~ '^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$'),
    text        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    clinical_at timestamptz NOT NULL,
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

-- Allergies and other warnings (uppmärksamhetsinformation).
CREATE TABLE warning (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES warning(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    kind        text NOT NULL CHECK (kind IN ('allergy', 'warning')),
    text        text NOT NULL CHECK (length(text) BETWEEN 1 AND 500),
    severity    text NOT NULL CHECK (severity IN ('low', 'high', 'life_threatening')),
    active      boolean NOT NULL DEFAULT true,
    clinical_at timestamptz NOT NULL,
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

CREATE TABLE medication_order (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES medication_order(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    unit_id     text NOT NULL REFERENCES care_unit(id),
    drug        text NOT NULL CHECK (length(drug) BETWEEN 1 AND 200),
    strength    text NOT NULL CHECK (length(strength) BETWEEN 1 AND 100),
    dose        text NOT NULL CHECK (length(dose) BETWEEN 1 AND 100),
    route       text NOT NULL CHECK (route IN ('po', 'iv', 'im', 'sc', 'rektalt', 'inhalation', 'kutant', 'sublingualt')),
    frequency   text NOT NULL CHECK (length(frequency) BETWEEN 1 AND 100),
    times       time[] NOT NULL DEFAULT '{}',   -- scheduled times of day; empty = as needed (vid behov)
    as_needed   boolean NOT NULL DEFAULT false,
    indication  text NOT NULL DEFAULT '',
    start_at    timestamptz NOT NULL,
    stop_at     timestamptz CHECK (stop_at IS NULL OR stop_at >= start_at),
    signed_by   bigint NOT NULL REFERENCES staff(id),   -- the prescriber
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

CREATE TABLE medication_administration (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id    uuid NOT NULL DEFAULT gen_random_uuid(),
    version     integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes  bigint REFERENCES medication_administration(id),
    patient_id  bigint NOT NULL REFERENCES patient(id),
    order_entry uuid NOT NULL,                     -- the medication_order's entry_id
    outcome     text NOT NULL CHECK (outcome IN ('given', 'not_given')),
    dose_given  text NOT NULL DEFAULT '',
    not_given_reason text CHECK (outcome = 'given' OR length(not_given_reason) > 0),
    clinical_at timestamptz NOT NULL,              -- when it was (not) given
    signed_by   bigint NOT NULL REFERENCES staff(id),
    signed_at   timestamptz NOT NULL DEFAULT now(),
    reason      text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

-- ---- order numbers ---------------------------------------------------------------------------
-- An order number is <KIND>-<series>-<number>, e.g. LAB-1-0000042. The series is the database
-- timeline: PostgreSQL starts a new, higher timeline at every promotion (failover, switchover)
-- and at every point-in-time restore, which is exactly when a sequence could fall back to a value
-- it already handed out. Crash recovery keeps the timeline, and sequences are WAL-logged ahead of
-- use, so the number part never falls back there. Together they never repeat.

CREATE SEQUENCE order_number_seq;

CREATE FUNCTION current_timeline() RETURNS integer LANGUAGE sql VOLATILE AS $$
    SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::integer
$$;

CREATE FUNCTION next_order_number(kind text) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT CASE kind WHEN 'lab' THEN 'LAB' WHEN 'radiology' THEN 'RTG' ELSE 'REM' END
           || '-' || current_timeline() || '-' || lpad(nextval('order_number_seq')::text, 7, '0')
$$;

CREATE TABLE referral (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes   bigint REFERENCES referral(id),
    patient_id   bigint NOT NULL REFERENCES patient(id),
    unit_id      text NOT NULL REFERENCES care_unit(id),
    order_number text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('lab', 'radiology')),
    tests        text NOT NULL CHECK (length(tests) BETWEEN 1 AND 500),
    question     text NOT NULL DEFAULT '',
    priority     text NOT NULL DEFAULT 'routine' CHECK (priority IN ('routine', 'urgent')),
    cancelled    boolean NOT NULL DEFAULT false,
    clinical_at  timestamptz NOT NULL,
    signed_by    bigint NOT NULL REFERENCES staff(id),
    signed_at    timestamptz NOT NULL DEFAULT now(),
    reason       text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version),
    UNIQUE (order_number, version)
);

CREATE TABLE referral_result (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id     uuid NOT NULL DEFAULT gen_random_uuid(),
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    supersedes   bigint REFERENCES referral_result(id),
    patient_id   bigint NOT NULL REFERENCES patient(id),
    order_number text NOT NULL,
    text         text NOT NULL CHECK (length(text) BETWEEN 1 AND 20000),
    abnormal     boolean NOT NULL DEFAULT false,
    clinical_at  timestamptz NOT NULL,          -- when the result was reported
    signed_by    bigint NOT NULL REFERENCES staff(id),
    signed_at    timestamptz NOT NULL DEFAULT now(),
    reason       text CHECK (version = 1 OR coalesce(length(reason), 0) > 0),
    UNIQUE (entry_id, version)
);

-- A result must answer an existing referral of the same patient.
CREATE FUNCTION check_result_referral() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM referral WHERE order_number = NEW.order_number AND patient_id = NEW.patient_id) THEN
        RAISE EXCEPTION 'obruten: no referral % for this patient', NEW.order_number USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER result_referral BEFORE INSERT ON referral_result FOR EACH ROW EXECUTE FUNCTION check_result_referral();

-- Emergency access (nödöppning): a stated reason, valid for a limited time, never removed.
CREATE TABLE emergency_access (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id   bigint NOT NULL REFERENCES staff(id),
    patient_id bigint NOT NULL REFERENCES patient(id),
    reason     text NOT NULL CHECK (length(btrim(reason)) >= 5),
    granted_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CHECK (expires_at > granted_at)
);
CREATE INDEX emergency_access_lookup ON emergency_access (staff_id, patient_id, expires_at);
CREATE INDEX emergency_access_recent ON emergency_access (granted_at DESC);

-- ---- audit log -------------------------------------------------------------------------------
-- Hash-chained: hash = sha256(prev_hash || canonical event). Chain order is id order; writers
-- take an advisory lock per batch so ids and links are assigned in one order. Events shipped from
-- a read-only node's spool keep their (node, source_seq) so they are taken in exactly once.
CREATE TABLE audit_event (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    node       text NOT NULL,
    source_seq bigint,
    actor_id   bigint,
    actor      text NOT NULL,
    action     text NOT NULL,
    patient_id bigint,
    purpose    text NOT NULL DEFAULT '',
    detail     jsonb NOT NULL DEFAULT '{}',
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL UNIQUE,
    UNIQUE (node, source_seq)
);
CREATE INDEX audit_event_patient ON audit_event (patient_id, at DESC) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_event_action ON audit_event (action, at DESC);

-- ---- indexes for the read paths ---------------------------------------------------------------
CREATE INDEX admission_entry ON admission (entry_id, version DESC);
CREATE INDEX admission_unit_open ON admission (unit_id, patient_id) WHERE discharged_at IS NULL;
CREATE INDEX admission_patient ON admission (patient_id);
CREATE INDEX note_entry ON note (entry_id, version DESC);
CREATE INDEX note_patient ON note (patient_id, clinical_at DESC);
CREATE INDEX diagnosis_entry ON diagnosis (entry_id, version DESC);
CREATE INDEX diagnosis_patient ON diagnosis (patient_id);
CREATE INDEX warning_entry ON warning (entry_id, version DESC);
CREATE INDEX warning_patient ON warning (patient_id);
CREATE INDEX medication_order_entry ON medication_order (entry_id, version DESC);
CREATE INDEX medication_order_patient ON medication_order (patient_id);
CREATE INDEX medication_administration_entry ON medication_administration (entry_id, version DESC);
CREATE INDEX medication_administration_order ON medication_administration (order_entry, clinical_at DESC);
CREATE INDEX medication_administration_patient ON medication_administration (patient_id, clinical_at DESC);
CREATE INDEX referral_entry ON referral (entry_id, version DESC);
CREATE INDEX referral_patient ON referral (patient_id);
CREATE INDEX referral_result_entry ON referral_result (entry_id, version DESC);
CREATE INDEX referral_result_order ON referral_result (order_number);
CREATE INDEX referral_result_patient ON referral_result (patient_id);

-- ---- current versions ----------------------------------------------------------------------------
-- One view per entry table: the rows no later version supersedes.
CREATE VIEW admission_current AS
    SELECT * FROM admission e WHERE NOT EXISTS (SELECT 1 FROM admission n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW note_current AS
    SELECT * FROM note e WHERE NOT EXISTS (SELECT 1 FROM note n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW diagnosis_current AS
    SELECT * FROM diagnosis e WHERE NOT EXISTS (SELECT 1 FROM diagnosis n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW warning_current AS
    SELECT * FROM warning e WHERE NOT EXISTS (SELECT 1 FROM warning n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW medication_order_current AS
    SELECT * FROM medication_order e WHERE NOT EXISTS (SELECT 1 FROM medication_order n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW medication_administration_current AS
    SELECT * FROM medication_administration e WHERE NOT EXISTS (SELECT 1 FROM medication_administration n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW referral_current AS
    SELECT * FROM referral e WHERE NOT EXISTS (SELECT 1 FROM referral n WHERE n.entry_id = e.entry_id AND n.version > e.version);
CREATE VIEW referral_result_current AS
    SELECT * FROM referral_result e WHERE NOT EXISTS (SELECT 1 FROM referral_result n WHERE n.entry_id = e.entry_id AND n.version > e.version);

SELECT make_versioned_entry(t) FROM unnest(ARRAY[
    'admission', 'note', 'diagnosis', 'warning', 'medication_order', 'medication_administration',
    'referral', 'referral_result']::regclass[]) AS t;
SELECT make_append_only(t) FROM unnest(ARRAY['emergency_access', 'audit_event']::regclass[]) AS t;
