-- The ward agent's downtime store as it was before it was versioned: documentation recorded on the
-- ward PC while the journal was unreachable, kept until the journal has it.
CREATE TABLE IF NOT EXISTS downtime_entry (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    key            TEXT NOT NULL UNIQUE,
    kind           TEXT NOT NULL CHECK (kind IN ('note', 'medication_administration')),
    unit_id        TEXT NOT NULL,
    device_id      TEXT NOT NULL,
    patient_id     INTEGER NOT NULL,
    patient_label  TEXT NOT NULL,          -- name and personal number as the kit showed them
    summary        TEXT NOT NULL,          -- drug or note kind, for the queue page
    entry          TEXT NOT NULL,          -- the DowntimeEntry as JSON, exactly what is submitted
    author         TEXT NOT NULL,
    clinical_at    TEXT NOT NULL,
    recorded_at    TEXT NOT NULL,
    state          TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'submitted', 'refused')),
    batch_id       TEXT,
    submitted_at   TEXT,
    refused_reason TEXT,
    journal_state  TEXT,                   -- pending / confirmed / rejected, as the journal last said
    journal_reason TEXT
);
CREATE INDEX IF NOT EXISTS downtime_entry_state ON downtime_entry (state, seq);
