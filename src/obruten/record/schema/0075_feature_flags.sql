-- Feature flags: every switch is a row, never a change (who, when, why, region-wide or one unit).
-- The newest switch for a unit wins over the newest region-wide one; no switch means off.
CREATE TABLE feature_flag_switch (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    flag        text NOT NULL CHECK (flag ~ '^[a-z][a-z0-9_]{1,60}$'),
    unit_id     text NOT NULL DEFAULT '',          -- '' = the whole region
    enabled     boolean NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now(),
    switched_by text NOT NULL CHECK (length(switched_by) BETWEEN 1 AND 100),
    reason      text NOT NULL CHECK (length(btrim(reason)) >= 3)
);
CREATE INDEX feature_flag_switch_flag ON feature_flag_switch (flag, unit_id, switched_at DESC);
SELECT make_append_only('feature_flag_switch');
