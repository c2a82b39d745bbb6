-- Verified downtime authors and reservnummer (issue 15, ADR 0049).
--
-- reserve_number_block   ranges of reservnummer handed to one ward agent in advance, so it can
--                        register a patient with no network; ranges never overlap (exclusion
--                        constraint), so two agents can never give out the same number
-- reserve_patient        a patient the journal created under a reservnummer from a downtime
--                        registration on a ward agent (the patient row carries the reservnummer as
--                        its personal_number)
-- reserve_identity_link  post-registration's merge: the reservnummer patient is the person with
--                        this real identity; pending entries are registered on the real patient,
--                        at most one link per reservnummer patient
-- verifier_export        every time a unit's staff verifier (argon2 hashes) left the journal for a
--                        ward agent: who, when, how many accounts (the export is security-relevant)
--
-- All four are append-only (make_append_only): the journal may INSERT and SELECT only (roles.sql).
-- Who confirmed a downtime entry and when is postreg_registration.registered_by/registered_at.

CREATE TABLE reserve_number_block (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id      text NOT NULL REFERENCES care_unit(id),
    device_id    text NOT NULL CHECK (length(device_id) BETWEEN 1 AND 100),
    first_serial bigint NOT NULL CHECK (first_serial >= 500000000),  -- below: the journal's own (0050)
    size         integer NOT NULL CHECK (size BETWEEN 1 AND 10000),
    allocated_at timestamptz NOT NULL DEFAULT now(),
    serials      int8range GENERATED ALWAYS AS (int8range(first_serial, first_serial + size)) STORED,
    CHECK (first_serial + size <= 1000000000),
    EXCLUDE USING gist (serials WITH &&)
);
CREATE INDEX reserve_number_block_device ON reserve_number_block (unit_id, device_id, id);

CREATE TABLE reserve_patient (
    patient_id     bigint PRIMARY KEY REFERENCES patient(id),
    reserve_number text NOT NULL UNIQUE,
    unit_id        text NOT NULL REFERENCES care_unit(id),
    device_id      text NOT NULL,
    registered_at  timestamptz NOT NULL,            -- when it was registered on the ward agent
    received_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE reserve_identity_link (
    reserve_patient_id bigint PRIMARY KEY REFERENCES reserve_patient(patient_id),
    patient_id         bigint NOT NULL REFERENCES patient(id),
    linked_by          bigint NOT NULL REFERENCES staff(id),
    linked_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (reserve_patient_id <> patient_id)
);

CREATE TABLE verifier_export (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id     text NOT NULL REFERENCES care_unit(id),
    device_id   text NOT NULL,
    accounts    integer NOT NULL,
    exported_at timestamptz NOT NULL DEFAULT now()
);

SELECT make_append_only(t) FROM unnest(ARRAY['reserve_number_block', 'reserve_patient', 'reserve_identity_link',
                                             'verifier_export']::regclass[]) AS t;
