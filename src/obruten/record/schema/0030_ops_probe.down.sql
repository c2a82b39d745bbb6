-- Undo 0030: the synthetic write probe's row (no patient data); the older release had no probe table.
DROP TABLE ops_probe;
