-- The ops store's core schema as it was before it was versioned (alarms, incidents, on-call,
-- notifications, timeline, preparedness, ward agents). Written in SQLite's dialect; ops/store_postgres
-- translates it for PostgreSQL.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS ops_user (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    full_name     TEXT NOT NULL,
    console_role  TEXT NOT NULL CHECK (console_role IN ('it', 'tib')),
    password_hash TEXT,
    email         TEXT,
    phone         TEXT,
    active        INTEGER NOT NULL DEFAULT 1
);

-- Who holds an on-call role (function) when; ends_at NULL means until further notice.
CREATE TABLE IF NOT EXISTS oncall_shift (
    id        INTEGER PRIMARY KEY,
    role      TEXT NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES ops_user(id),
    starts_at TEXT NOT NULL,
    ends_at   TEXT
);
CREATE INDEX IF NOT EXISTS oncall_shift_role ON oncall_shift (role, starts_at);

-- Every change to the rota, with who and when (added, ended, cancelled).
CREATE TABLE IF NOT EXISTS oncall_change (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    who       TEXT NOT NULL,
    action    TEXT NOT NULL CHECK (action IN ('added', 'ended', 'cancelled')),
    shift_id  INTEGER NOT NULL,
    role      TEXT NOT NULL,
    user_id   INTEGER NOT NULL REFERENCES ops_user(id),
    starts_at TEXT NOT NULL,
    ends_at   TEXT
);

-- The latest finding of each probe target.
CREATE TABLE IF NOT EXISTS finding (
    probe  TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    value  REAL,
    detail TEXT NOT NULL DEFAULT '',
    at     TEXT NOT NULL,
    PRIMARY KEY (probe, target)
);

CREATE TABLE IF NOT EXISTS incident (
    id               INTEGER PRIMARY KEY,
    title            TEXT NOT NULL,
    classification   INTEGER NOT NULL CHECK (classification BETWEEN 1 AND 4),
    state            TEXT NOT NULL CHECK (state IN ('open', 'mitigated', 'resolved', 'closed')),
    opened_at        TEXT NOT NULL,
    opened_by        TEXT NOT NULL,
    mitigated_at     TEXT,
    resolved_at      TEXT,
    closed_at        TEXT,
    affected_systems TEXT NOT NULL DEFAULT '[]',
    affected_units   TEXT NOT NULL DEFAULT '[]',
    auto             INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS alarm (
    id          INTEGER PRIMARY KEY,
    rule        TEXT NOT NULL,
    dedup_key   TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    state       TEXT NOT NULL CHECK (state IN ('firing', 'acknowledged', 'resolved')),
    summary     TEXT NOT NULL,
    chain       TEXT NOT NULL,
    daytime_only INTEGER NOT NULL DEFAULT 0,
    opened_at   TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    seen        INTEGER NOT NULL DEFAULT 1,
    acked_at    TEXT,
    acked_by    TEXT,
    resolved_at TEXT,
    resolved_by TEXT,
    step        INTEGER NOT NULL DEFAULT -1,
    round       INTEGER NOT NULL DEFAULT 0,
    step_until  TEXT,
    incident_id INTEGER REFERENCES incident(id)
);
CREATE UNIQUE INDEX IF NOT EXISTS alarm_open_key ON alarm (dedup_key) WHERE state <> 'resolved';

-- Every transition of an alarm, with who and when (fired, escalated, acknowledged, resolved).
CREATE TABLE IF NOT EXISTS alarm_transition (
    id       INTEGER PRIMARY KEY,
    alarm_id INTEGER NOT NULL REFERENCES alarm(id),
    at       TEXT NOT NULL,
    action   TEXT NOT NULL,
    who      TEXT NOT NULL,
    note     TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS notification (
    id          INTEGER PRIMARY KEY,
    alarm_id    INTEGER REFERENCES alarm(id),
    step        INTEGER,
    role        TEXT,
    user_id     INTEGER REFERENCES ops_user(id),
    channel     TEXT NOT NULL,
    address     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    payload     TEXT NOT NULL DEFAULT '{}',
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_at  TEXT NOT NULL,
    next_try_at TEXT NOT NULL,
    sent_at     TEXT
);
CREATE INDEX IF NOT EXISTS notification_due ON notification (state, next_try_at);

CREATE TABLE IF NOT EXISTS delivery_attempt (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notification(id),
    at              TEXT NOT NULL,
    ok              INTEGER NOT NULL,
    error           TEXT
);

-- incident_id NULL: a system event, shown in every incident whose time window covers it.
CREATE TABLE IF NOT EXISTS timeline_entry (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incident(id),
    at          TEXT NOT NULL,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    source      TEXT NOT NULL,
    manual      INTEGER NOT NULL DEFAULT 0,
    who         TEXT
);
CREATE INDEX IF NOT EXISTS timeline_entry_at ON timeline_entry (at);

-- Status messages and operating-mode changes that belong to an incident.
CREATE TABLE IF NOT EXISTS incident_link (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incident(id),
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    at          TEXT NOT NULL,
    UNIQUE (incident_id, kind, ref)
);

CREATE TABLE IF NOT EXISTS preparedness_change (
    id          INTEGER PRIMARY KEY,
    level       TEXT NOT NULL,
    at          TEXT NOT NULL,
    decided_by  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    incident_id INTEGER REFERENCES incident(id)
);

CREATE TABLE IF NOT EXISTS preparedness_proposal (
    id          INTEGER PRIMARY KEY,
    level       TEXT NOT NULL,
    incident_id INTEGER REFERENCES incident(id),
    alarm_id    INTEGER REFERENCES alarm(id),
    proposed_at TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'proposed' CHECK (state IN ('proposed', 'accepted', 'declined')),
    decided_by  TEXT,
    decided_at  TEXT,
    reason      TEXT
);

-- What each ward agent last reported: its unit's newest downtime kit.
CREATE TABLE IF NOT EXISTS ward_agent (
    unit         TEXT PRIMARY KEY,
    agent        TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    kit_at       TEXT
);
