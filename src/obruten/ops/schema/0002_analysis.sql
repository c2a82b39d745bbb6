-- Event analysis (ops/analysis): cases, versions, events, why-chains, causes, actions.
CREATE TABLE IF NOT EXISTS analysis (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    title       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS analysis_version (
    id            INTEGER PRIMARY KEY,
    analysis_id   INTEGER NOT NULL REFERENCES analysis(id),
    number        INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('draft', 'signed')),
    commissioner  TEXT NOT NULL,
    leader        TEXT NOT NULL,
    team          TEXT NOT NULL DEFAULT '[]',
    scope         TEXT NOT NULL DEFAULT '',
    summary       TEXT NOT NULL DEFAULT '',
    consequences  TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    signed_at     TEXT,
    signed_by     TEXT,
    UNIQUE (analysis_id, number)
);

CREATE TABLE IF NOT EXISTS analysis_event (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES analysis_version(id),
    position   INTEGER NOT NULL,
    at         TEXT,
    at_end     TEXT,
    text       TEXT NOT NULL,
    origin     TEXT NOT NULL DEFAULT 'manual'
);
CREATE INDEX IF NOT EXISTS analysis_event_version ON analysis_event (version_id, position);

-- One step of a why-chain: the question asked and the answer ("Därför att …"). A root step
-- belongs to an event; a deeper step asks why of its parent's answer.
CREATE TABLE IF NOT EXISTS analysis_why (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES analysis_version(id),
    event_id   INTEGER NOT NULL REFERENCES analysis_event(id),
    parent_id  INTEGER REFERENCES analysis_why(id),
    question   TEXT NOT NULL,
    answer     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS analysis_why_event ON analysis_why (event_id);
CREATE INDEX IF NOT EXISTS analysis_why_version ON analysis_why (version_id);

CREATE TABLE IF NOT EXISTS analysis_cause (
    id         INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES analysis_version(id),
    why_id     INTEGER NOT NULL REFERENCES analysis_why(id),
    category   TEXT NOT NULL,
    text       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS analysis_cause_version ON analysis_cause (version_id);

CREATE TABLE IF NOT EXISTS analysis_action (
    id          INTEGER PRIMARY KEY,
    version_id  INTEGER NOT NULL REFERENCES analysis_version(id),
    cause_id    INTEGER NOT NULL REFERENCES analysis_cause(id),
    description TEXT NOT NULL,
    owner       TEXT NOT NULL,
    deadline    TEXT NOT NULL,
    strength    TEXT NOT NULL CHECK (strength IN ('stronger', 'intermediate', 'weaker')),
    measure     TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('planned', 'in_progress', 'done', 'cancelled'))
);
CREATE INDEX IF NOT EXISTS analysis_action_version ON analysis_action (version_id);
CREATE INDEX IF NOT EXISTS analysis_action_deadline ON analysis_action (deadline);

-- Follow-up of an action after sign-off: the signed content stays; its status moves on here.
CREATE TABLE IF NOT EXISTS analysis_action_followup (
    id        INTEGER PRIMARY KEY,
    action_id INTEGER NOT NULL REFERENCES analysis_action(id),
    at        TEXT NOT NULL,
    who       TEXT NOT NULL,
    status    TEXT NOT NULL CHECK (status IN ('planned', 'in_progress', 'done', 'cancelled')),
    note      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS analysis_action_followup_action ON analysis_action_followup (action_id);

CREATE TABLE IF NOT EXISTS analysis_category (
    id       INTEGER PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    position INTEGER NOT NULL,
    active   INTEGER NOT NULL DEFAULT 1
);

-- Every change, with who and when (the audit trail of the analysis).
CREATE TABLE IF NOT EXISTS analysis_change (
    id          INTEGER PRIMARY KEY,
    analysis_id INTEGER NOT NULL REFERENCES analysis(id),
    version     INTEGER NOT NULL,
    at          TEXT NOT NULL,
    who         TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS analysis_change_analysis ON analysis_change (analysis_id, id);
