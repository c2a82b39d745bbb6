-- Undo 0040: order numbers go back to 0001's series (the timeline number alone). Numbers already
-- issued keep their token and stay unique: the old series has no letters, and the sequence goes on.
CREATE OR REPLACE FUNCTION next_order_number(kind text) RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT CASE kind WHEN 'lab' THEN 'LAB' WHEN 'radiology' THEN 'RTG' ELSE 'REM' END
           || '-' || current_timeline() || '-' || lpad(nextval('order_number_seq')::text, 7, '0')
$$;
DROP FUNCTION order_series();
DROP TABLE order_series;
