-- The ops service's synthetic write-path probe: one row per prober, upserted and read back on
-- every probe round. Not an entry table and holds no patient data; it is allowed to be updated.
CREATE TABLE ops_probe (
    prober     text PRIMARY KEY CHECK (length(prober) BETWEEN 1 AND 80),
    token      text NOT NULL,
    written_at timestamptz NOT NULL
);
COMMENT ON TABLE ops_probe IS 'obruten ops: synthetic write-and-read probe of the primary; no patient data';
