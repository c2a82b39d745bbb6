-- Writes made under a reserve routine by overriding the write block (issue 14, item 8).
--
-- Under reservrutin a physician or admin may still write by giving a reason; the write guard audits
-- that as a write_during_reservrutin event (its detail carries a one-time token) before the write.
-- The write's own transaction then adds a row here naming the entry it wrote and that audit event,
-- so the entry itself shows "skriven under reservrutin, med åsidosättande: <reason>" in its history
-- and the API, linked to the audit event id. Append-only: the journal may INSERT and SELECT
-- (roles.sql grants that to every table); a marking is never changed or removed.

CREATE TABLE entry_override (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_kind      text NOT NULL,   -- note, medication_order, medication_administration, referral …
    entry_ref       text NOT NULL,   -- the entry's id (or a referral's order number)
    version         integer NOT NULL DEFAULT 1,
    patient_id      bigint,
    unit_id         text,
    status_version  bigint NOT NULL,
    reason          text NOT NULL CHECK (length(reason) BETWEEN 5 AND 500),
    audit_event_id  bigint NOT NULL REFERENCES audit_event (id),
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX entry_override_ref ON entry_override (entry_ref);
COMMENT ON TABLE entry_override IS 'obruten: entries written under a reserve routine with an override (append-only)';
SELECT make_append_only('entry_override'::regclass);
