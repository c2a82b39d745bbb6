-- Undo 0080: the triggers, their functions and the change log (a read copy of the release before
-- drops its cache on every replayed WAL again).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT DISTINCT tgrelid::regclass AS tbl FROM pg_trigger WHERE tgname LIKE 'record_change_%' LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS record_change_ins ON %s', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS record_change_upd_new ON %s', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS record_change_upd_old ON %s', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS record_change_del ON %s', t.tbl);
    END LOOP;
END $$;
DROP FUNCTION make_change_logged(regclass);
DROP FUNCTION log_record_change();
DROP FUNCTION prune_record_change();
DROP TABLE record_change;
