-- Undo 0076: the release before it kept no upgrade record. The rows go with the table; each
-- apply and rollback is also in var/upgrade/*.json and on the ops timeline (system events).
DROP TABLE upgrade_run;
