-- The status record: every signed status message, append-only (the guard is added at open,
-- in the backend's dialect: Store.make_append_only).
CREATE TABLE IF NOT EXISTS status_message (
    version     INTEGER PRIMARY KEY,
    document    TEXT NOT NULL,
    mode        TEXT NOT NULL,
    unit_modes  TEXT NOT NULL,
    issued_by   TEXT NOT NULL,
    issuer_role TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
