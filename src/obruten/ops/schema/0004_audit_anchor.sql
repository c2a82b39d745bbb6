-- Signed checkpoints of the journal's audit chain head (ADR 0041); the signed document is kept
-- verbatim, the columns beside it are for reading.
CREATE TABLE IF NOT EXISTS audit_anchor (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    events    INTEGER NOT NULL,
    last_id   INTEGER,
    last_hash TEXT NOT NULL,
    node      TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    document  TEXT NOT NULL
);
