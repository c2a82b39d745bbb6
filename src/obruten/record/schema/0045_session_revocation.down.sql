-- Undo 0045: the release before it kept no revocations and no login attempts. What is lost: sessions
-- ended early (logout, deactivation) become valid again until they expire (at most the session
-- lifetime), and login throttling starts counting afresh. No patient data is in these tables.
DROP TABLE login_attempt;
DROP TABLE session_revocation;
