-- Post-registration (efterregistrering): documentation recorded on a ward agent while the journal
-- was unreachable, received in batches, reviewed by staff and then registered as real entries.
--
-- postreg_entry        one received entry, exactly once per idempotency key; never changed
-- postreg_state_change append-only state history: 'pending' at receipt, then at most one final
--                      'confirmed' or 'rejected' (a partial unique index makes a second decision,
--                      and so a second registration, impossible)
-- postreg_registration the durable downtime marker: which record entry came from which received
--                      entry, with the original author and when it was registered

CREATE TABLE postreg_entry (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key uuid NOT NULL UNIQUE,
    payload_digest  text NOT NULL,                  -- sha256 of the canonical entry: same key, other content = conflict
    batch_id        uuid NOT NULL,
    device_id       text NOT NULL CHECK (length(device_id) BETWEEN 1 AND 100),
    unit_id         text NOT NULL REFERENCES care_unit(id),
    patient_id      bigint NOT NULL REFERENCES patient(id),
    kind            text NOT NULL CHECK (kind IN ('note', 'medication_administration')),
    order_entry     uuid,                           -- the medication order, for administrations
    payload         jsonb NOT NULL,                 -- the entry's fields as recorded on the device
    author          text NOT NULL CHECK (length(author) BETWEEN 1 AND 100),  -- username as typed on the device
    author_id       bigint REFERENCES staff(id),    -- resolved at receipt; NULL when nobody has that username
    clinical_at     timestamptz NOT NULL,           -- when it happened (the original time)
    recorded_at     timestamptz NOT NULL,           -- when it was written down on the device
    received_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'medication_administration') = (order_entry IS NOT NULL))
);
CREATE INDEX postreg_entry_unit ON postreg_entry (unit_id, clinical_at);
CREATE INDEX postreg_entry_order ON postreg_entry (order_entry, clinical_at) WHERE order_entry IS NOT NULL;

CREATE TABLE postreg_state_change (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry         bigint NOT NULL REFERENCES postreg_entry(id),
    state         text NOT NULL CHECK (state IN ('pending', 'confirmed', 'rejected')),
    changed_at    timestamptz NOT NULL DEFAULT now(),
    changed_by    bigint REFERENCES staff(id),      -- NULL for 'pending' (the ward agent delivered it)
    reason        text,
    CHECK (state <> 'rejected' OR length(btrim(reason)) >= 3),
    CHECK (state = 'pending' OR changed_by IS NOT NULL)
);
CREATE UNIQUE INDEX postreg_state_once_pending ON postreg_state_change (entry) WHERE state = 'pending';
CREATE UNIQUE INDEX postreg_state_once_final ON postreg_state_change (entry) WHERE state <> 'pending';

CREATE TABLE postreg_registration (
    entry_table     text NOT NULL CHECK (entry_table IN ('note', 'medication_administration')),
    entry_id        uuid NOT NULL,                  -- the record entry (version 1 was registered from the device)
    postreg_entry   bigint NOT NULL UNIQUE REFERENCES postreg_entry(id),
    author          text NOT NULL,                  -- who documented it during the downtime
    recorded_at     timestamptz NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    registered_by   bigint NOT NULL REFERENCES staff(id),
    PRIMARY KEY (entry_table, entry_id)
);

SELECT make_append_only(t) FROM unnest(ARRAY['postreg_entry', 'postreg_state_change',
                                             'postreg_registration']::regclass[]) AS t;

-- Entries still waiting for review, per unit (the ward list and the units page count these).
CREATE VIEW postreg_pending AS
    SELECT e.* FROM postreg_entry e
    WHERE NOT EXISTS (SELECT 1 FROM postreg_state_change s WHERE s.entry = e.id AND s.state <> 'pending');
