-- What each `obruten upgrade apply | rollback` did: from and to which release, the migrations per
-- store, the flags that were new or changed, and the pre-upgrade snapshot to restore if needed.
-- Append-only: a rollback is a new row, never a change to the one it undoes.
CREATE TABLE upgrade_run (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    action       text NOT NULL CHECK (action IN ('apply', 'rollback')),
    from_release text NOT NULL,
    to_release   text NOT NULL,
    migrations   jsonb NOT NULL,      -- {store: {"from": last before, "applied"|"undone": [names]}}
    flags        jsonb NOT NULL,      -- {"new": [names], "switched": [{flag, unit, on}]}
    snapshot     text NOT NULL DEFAULT '',
    by_whom      text NOT NULL CHECK (length(by_whom) BETWEEN 1 AND 100),
    node         text NOT NULL DEFAULT ''
);
COMMENT ON TABLE upgrade_run IS 'obruten: upgrades applied and rolled back (append-only)';
SELECT make_append_only('upgrade_run');
