-- The alarm's detail line (the newest finding behind it) and the incident's impact (what staff
-- notice), added in release 2026.12 before the ops store was versioned: a store made then has
-- them already and is adopted.
ALTER TABLE alarm ADD COLUMN detail TEXT NOT NULL DEFAULT '';
ALTER TABLE incident ADD COLUMN impact TEXT NOT NULL DEFAULT '';
