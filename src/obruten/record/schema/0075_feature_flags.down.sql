-- Undo 0075: the switches go with the table (rolling back a release returns its flags to "absent").
DROP TABLE feature_flag_switch;
