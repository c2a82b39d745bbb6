-- Reservnummer: blocks of reserve numbers the journal handed this agent, the patients registered
-- under them during downtime, and which reserve number a queued entry was written for.
ALTER TABLE downtime_entry ADD COLUMN reserve_number TEXT;
CREATE TABLE IF NOT EXISTS reserve_block (
    first_serial INTEGER PRIMARY KEY,
    size         INTEGER NOT NULL,
    fetched_at   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reserve_patient (
    local_id           INTEGER PRIMARY KEY AUTOINCREMENT,
    reserve_number     TEXT NOT NULL UNIQUE,
    given_name         TEXT NOT NULL,
    family_name        TEXT NOT NULL,
    sex                TEXT NOT NULL CHECK (sex IN ('F', 'M', 'X')),
    birth_date         TEXT NOT NULL,
    registered_at      TEXT NOT NULL,
    registered_by      TEXT NOT NULL,          -- the verified username
    journal_patient_id INTEGER                 -- set when the journal created the patient
);
