-- What changed, for the read copy's cache (issue 17, docs/adr/0056-read-copy-cache-by-change.md).
--
-- The read copy caches bodies (overview, ward list, medication page) and access decisions. It
-- used to drop all of them whenever the standby replayed any WAL at all, so on a journal that is
-- being written to the cache was empty most of the time, and each replayed write cost every
-- worker seconds of CPU to refill it. Here every write that can change a cached read leaves a row
-- naming the patient (and the units the patient is on) in record_change, in the same transaction;
-- the read copy reads the rows of the transactions that became visible since it last looked and
-- drops only what they name.
--
-- xid: the writing transaction (pg_current_xact_id()). A reader that remembers the xmin of its
-- previous snapshot finds every transaction that became visible since with xid >= that xmin.
-- patient_id NULL: a change not tied to one patient (staff, units, merges): drop everything.
-- tbl: the table written (a ward list is dropped only for the tables it reads, record/ward.py).
CREATE TABLE record_change (
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    patient_id bigint,
    unit_id    text,
    tbl        text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX record_change_xid ON record_change (xid);
CREATE INDEX record_change_at ON record_change (at);

-- Old rows go (an hour is far more than any read copy looks back: one that has not looked for
-- RECORD_CHANGE_HORIZON, readcopy/journal.py, drops its whole cache instead).
CREATE FUNCTION prune_record_change() RETURNS void LANGUAGE sql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
    DELETE FROM record_change WHERE at < now() - interval '1 hour';
$$;

-- One statement-level trigger per table and operation, so every write path (journal, post-
-- registration, ADT, seed, psql) is covered. The patients are the rows' own patient_id; the units
-- are the rows' unit_id and every unit the patients are admitted to (as for the kits, 0060). A
-- table without a patient_id column names no patient: its rows drop everything. A statement that
-- touches more than 1,000 rows (a seed, a merge) also drops everything, in one row.
CREATE FUNCTION log_record_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM changed_rows) > 1000 THEN
        INSERT INTO record_change (patient_id, unit_id, tbl) VALUES (NULL, NULL, TG_TABLE_NAME);
    ELSE
        INSERT INTO record_change (patient_id, unit_id, tbl)
        SELECT DISTINCT s.patient_id, s.unit, TG_TABLE_NAME FROM (
            SELECT (to_jsonb(n) ->> 'patient_id')::bigint AS patient_id, to_jsonb(n) ->> 'unit_id' AS unit
              FROM changed_rows n
            UNION
            SELECT a.patient_id, a.unit_id FROM admission a
              JOIN (SELECT DISTINCT (to_jsonb(c) ->> 'patient_id')::bigint AS patient_id FROM changed_rows c) p
                ON a.patient_id = p.patient_id
             WHERE a.discharged_at IS NULL
        ) s;
    END IF;
    IF random() < 0.001 THEN
        PERFORM prune_record_change();
    END IF;
    RETURN NULL;
END $$;

-- Tables whose writes change no cached read (the audit log, sessions, login attempts, probes,
-- the upgrade record, post-registration's own queue) are left out; every other table, including
-- tables added later that call this, is in: a table forgotten here costs cache, never freshness.
CREATE FUNCTION make_change_logged(tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TRIGGER record_change_ins AFTER INSERT ON %s REFERENCING NEW TABLE AS changed_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION log_record_change()', tbl);
    EXECUTE format('CREATE TRIGGER record_change_upd_new AFTER UPDATE ON %s REFERENCING NEW TABLE AS changed_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION log_record_change()', tbl);
    EXECUTE format('CREATE TRIGGER record_change_upd_old AFTER UPDATE ON %s REFERENCING OLD TABLE AS changed_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION log_record_change()', tbl);
    EXECUTE format('CREATE TRIGGER record_change_del AFTER DELETE ON %s REFERENCING OLD TABLE AS changed_rows '
                   'FOR EACH STATEMENT EXECUTE FUNCTION log_record_change()', tbl);
END $$;

SELECT make_change_logged(c.oid::regclass)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND c.relkind = 'r'
   AND c.relname NOT IN ('record_change', 'audit_event', 'login_attempt', 'session_revocation', 'ops_probe',
                         'upgrade_run', 'verifier_export', 'schema_migration')
   AND NOT c.relispartition;
