-- Order numbers unique per history, not per timeline number.
--
-- 0001 made the series the timeline number. Two divergent histories can reach the same timeline
-- number: a point-in-time restore into a new instance while the old cluster keeps running (and
-- fails over once) puts both on timeline N+1, and both then hand out the same numbers. The series
-- is now the timeline number followed by a random token drawn the first time a number is issued
-- on that timeline in this history. A restored or promoted instance is always on a timeline its
-- own history has not issued on, so it always draws a fresh token; two histories share a series
-- only if they draw the same 6 letters (1 in 16^6 ≈ 16.8 million). Crash recovery keeps both the
-- timeline and the token; the sequence is WAL-logged ahead of use, so it never falls back there.
-- Example: LAB-2KQDMAF-0000042 (timeline 2, token KQDMAF, number 42).

CREATE TABLE order_series (
    timeline   integer PRIMARY KEY,
    token      text NOT NULL CHECK (token ~ '^[A-R]{6}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE order_series IS 'obruten: the random token of each timeline this history issued order numbers on';

CREATE FUNCTION order_series() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    tl integer := current_timeline();
    t text;
BEGIN
    SELECT token INTO t FROM order_series WHERE timeline = tl;
    IF t IS NULL THEN
        -- letters only (no I or O), so the series reads as <timeline digits><token letters>
        INSERT INTO order_series (timeline, token)
        VALUES (tl, translate(upper(substr(md5(gen_random_uuid()::text), 1, 6)),
                              '0123456789ABCDEF', 'ABCDEFGHJKLMNPQR'))
        ON CONFLICT (timeline) DO NOTHING;
        SELECT token INTO t FROM order_series WHERE timeline = tl;
    END IF;
    RETURN tl::text || t;
END
$$;

CREATE OR REPLACE FUNCTION next_order_number(kind text) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT CASE kind WHEN 'lab' THEN 'LAB' WHEN 'radiology' THEN 'RTG' ELSE 'REM' END
           || '-' || order_series() || '-' || lpad(nextval('order_number_seq')::text, 7, '0')
$$;

SELECT make_append_only('order_series');
