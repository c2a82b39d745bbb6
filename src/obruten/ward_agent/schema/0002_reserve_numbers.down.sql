-- Undo 0002, but only while nothing would be lost: a patient registered under a reserve number the
-- journal has not yet created, or an entry written for one and not yet submitted, makes this fail
-- (CHECK constraint) and the store stays as it is: submit first, or restore the snapshot.
CREATE TEMP TABLE reserve_data_would_be_lost (n INTEGER CHECK (n = 0));
INSERT INTO reserve_data_would_be_lost
    SELECT (SELECT count(*) FROM reserve_patient WHERE journal_patient_id IS NULL)
         + (SELECT count(*) FROM downtime_entry WHERE reserve_number IS NOT NULL AND state = 'queued');
DROP TABLE reserve_data_would_be_lost;
DROP TABLE reserve_patient;
DROP TABLE reserve_block;
ALTER TABLE downtime_entry DROP COLUMN reserve_number;
