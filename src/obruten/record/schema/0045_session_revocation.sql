-- Sessions that end, and login throttling.
--
-- A session is a signed token checked without a database write (a read copy serves logged-in
-- users). Ending one early is a row here, never a change: the journal may INSERT and SELECT
-- (roles.sql grants that to every table), the rows cannot be changed or deleted, and a read copy
-- (a streaming standby) learns each row by replication. A row with a sid ends that one session
-- (logout); a row without ends every session of the user issued up to revoked_at (deactivation).
-- Rows older than the session lifetime no longer matter and are skipped by the readers.

CREATE TABLE session_revocation (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sid        text CHECK (sid IS NULL OR length(sid) BETWEEN 8 AND 64),
    user_id    integer NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    reason     text NOT NULL CHECK (reason IN ('logout', 'deactivated')),
    node       text NOT NULL DEFAULT ''
);
CREATE INDEX session_revocation_at ON session_revocation (revoked_at);
COMMENT ON TABLE session_revocation IS 'obruten: sessions ended before they expired (append-only)';

-- Every login attempt the password was checked for (ok or not), by account and client address:
-- what login throttling counts across workers and nodes. Refused attempts are not rows here (they
-- are audited as login_throttled) so a lock-out does not prolong itself. The journal may only
-- INSERT and SELECT; rows older than a day count for nothing, and the owner may delete them.
CREATE TABLE login_attempt (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    username text NOT NULL CHECK (length(username) <= 64),
    client   text NOT NULL CHECK (length(client) <= 64),
    ok       boolean NOT NULL,
    node     text NOT NULL DEFAULT ''
);
CREATE INDEX login_attempt_username ON login_attempt (username, at);
CREATE INDEX login_attempt_client ON login_attempt (client, at);
CREATE INDEX login_attempt_at ON login_attempt (at);
COMMENT ON TABLE login_attempt IS 'obruten: login attempts whose password was checked, for throttling';

SELECT make_append_only('session_revocation');
