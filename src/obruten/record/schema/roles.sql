-- Least privilege for the journal database. Applied after every migration run (idempotent), by a
-- role that may create roles (the installer's superuser). Not a numbered migration: it re-settles
-- ownership and grants of whatever the migrations created.
--
--   obruten_owner  owns every table, view, sequence and function (NOLOGIN: nobody works as it)
--   obruten_app    what the journal, the read copy and the ops probe connect as: not superuser,
--                  owns nothing, may SELECT and INSERT; UPDATE only where a row is meant to change
--                  (staff accounts, the ops write probe). It cannot UPDATE/DELETE/TRUNCATE entries
--                  or the audit log, cannot ALTER or disable a trigger (not the owner), and cannot
--                  SET session_replication_role (a superuser-only setting).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'obruten_owner') THEN
        CREATE ROLE obruten_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'obruten_app') THEN
        CREATE ROLE obruten_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
    END IF;
END $$;
ALTER ROLE obruten_app NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;

DO $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT c.oid::regclass AS name, c.relkind FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'S', 'p', 'm')
                 AND pg_get_userbyid(c.relowner) <> 'obruten_owner'
                 -- sequences of identity and serial columns follow their table
                 AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid
                          AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO obruten_owner', obj.name);
    END LOOP;
    FOR obj IN SELECT p.oid::regprocedure AS name FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> 'obruten_owner'
    LOOP
        EXECUTE format('ALTER FUNCTION %s OWNER TO obruten_owner', obj.name);
    END LOOP;
END $$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO obruten_app;
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM obruten_app;
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA public TO obruten_app;
GRANT UPDATE ON staff, ops_probe TO obruten_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO obruten_app;
REVOKE ALL ON schema_migration FROM obruten_app;
GRANT SELECT ON schema_migration TO obruten_app;
-- ADT (0050): merges are written only by merge_patient() (SECURITY DEFINER, owned by obruten_owner),
-- which moves a reserve number's rows in one transaction; the journal may call it, not forge a merge.
REVOKE INSERT ON patient_merge FROM obruten_app;
REVOKE ALL ON FUNCTION merge_patient(bigint, bigint, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION merge_patient(bigint, bigint, bigint, text) TO obruten_app;
