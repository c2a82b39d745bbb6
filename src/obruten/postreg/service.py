"""Review and registration of downtime documentation, through the journal's access checks and audit.

Confirming an entry writes it into the record with the record's own functions (``notes.write``,
``medication.administer``) at its original clinical time, links it to the received entry (the
downtime marker) and records the decision, all in one transaction: either the entry is in the
record, marked and decided, or nothing changed. The decision row is unique per received entry, so
an entry can never be registered twice, not even by two reviewers clicking at the same moment.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from obruten.platform import events
from obruten.platform.auth import Session
from obruten.platform.errors import Conflict, Forbidden, Invalid
from obruten.postreg import downtime_identity, queue
from obruten.postreg.agents import AgentIdentity
from obruten.postreg.models import Batch
from obruten.record import medication, notes
from obruten.record.audit import AuditEvent, append_chained
from obruten.record.service import Journal

REVIEWER_ROLES = ("physician", "nurse")


@dataclass(frozen=True)
class Review:
    pending: list[dict]       # shown on the screen (at most a page)
    decided: list[dict]       # the unit's latest decisions
    per_patient: list[dict]   # every patient with pending entries: patient_id, names, pending
    total: int                # all pending entries of the unit


@dataclass
class PostRegistration:
    journal: Journal
    var_dir: Path | None = None  # where system events go (incident timelines); None: not reported

    # ---- the ward agent's side ------------------------------------------------------------------
    async def receive(self, agent: AgentIdentity, batch: Batch) -> queue.Receipt:
        async with self.journal.pool.connection() as conn, conn.transaction():
            receipt = await queue.receive(conn, agent, batch)
            await append_chained(conn, [AuditEvent(
                actor=f"agent:{agent.device_id}", action="postreg_receive", node=self.journal.node,
                purpose="efterregistrering",
                detail={"unit": agent.unit_id, "batch": str(batch.batch_id), "received": receipt.received,
                        "already": receipt.already})])
        if receipt.received and self.var_dir is not None:
            await asyncio.to_thread(
                events.emit, self.var_dir, "postreg.received",
                f"ward agent {agent.device_id} delivered {receipt.received} downtime entries for {agent.unit_id}; "
                "they wait for review", self.journal.node, unit=agent.unit_id, device=agent.device_id,
                received=receipt.received)
        return receipt

    async def states(self, agent: AgentIdentity, keys: list) -> dict[str, dict]:
        async with self.journal.pool.connection() as conn:
            return await queue.states(conn, agent.unit_id, keys)

    async def verifier(self, agent: AgentIdentity) -> dict:
        """The unit's signed staff verifier (argon2 hashes of its nurses and physicians); audited."""
        if self.var_dir is None:
            raise Invalid("the journal has no var_dir: it cannot sign a verifier")
        async with self.journal.pool.connection() as conn, conn.transaction():
            document = await downtime_identity.export_verifier(conn, self.var_dir, agent)
            await append_chained(conn, [AuditEvent(
                actor=f"agent:{agent.device_id}", action="downtime_verifier_export", node=self.journal.node,
                purpose="efterregistrering",
                detail={"unit": agent.unit_id, "accounts": len(document["body"]["staff"])})])
        return document

    async def reserve_block(self, agent: AgentIdentity) -> dict:
        async with self.journal.pool.connection() as conn, conn.transaction():
            return await downtime_identity.allocate_block(conn, agent)

    async def reserve_patients(self, agent: AgentIdentity,
                               patients: list[downtime_identity.ReservePatient]) -> dict[str, int]:
        async with self.journal.pool.connection() as conn, conn.transaction():
            ids = await downtime_identity.receive_reserve_patients(conn, agent, patients)
            await append_chained(conn, [AuditEvent(
                actor=f"agent:{agent.device_id}", action="reserve_patient_receive", node=self.journal.node,
                purpose="efterregistrering", detail={"unit": agent.unit_id, "patients": len(ids)})])
        return ids

    # ---- staff ----------------------------------------------------------------------------------------
    def _reviewer(self, session: Session, unit_id: str) -> None:
        if session.role not in REVIEWER_ROLES:
            raise Forbidden(f"your role ({session.role}) cannot review post-registration; "
                            f"it needs: {', '.join(REVIEWER_ROLES)}")
        if unit_id not in session.units:
            raise Forbidden(f"you do not work on unit {unit_id}; a nurse or physician of that unit reviews it")

    async def review(self, session: Session, unit_id: str, patient_id: int | None = None) -> Review:
        """Pending entries (with possible duplicates), recent decisions and pending counts per patient."""
        self._reviewer(session, unit_id)
        async with self.journal.pool.connection() as conn:
            pending = await queue.review_list(conn, unit_id, patient_id)
            decided = await queue.recently_decided(conn, unit_id)
            per_patient = await queue.pending_by_patient(conn, unit_id)
        for shown in sorted({r["patient_id"] for r in pending + decided}):
            await self.journal.audit_action(session, "read", shown, "vård", view="postreg_review", unit=unit_id)
        return Review(pending, decided, per_patient, sum(p["pending"] for p in per_patient))

    async def reserve_list(self, session: Session, unit_id: str) -> list[dict]:
        self._reviewer(session, unit_id)
        async with self.journal.pool.connection() as conn:
            return await downtime_identity.reserve_patients(conn, unit_id)

    async def link_reserve(self, session: Session, unit_id: str, reserve_patient_id: int, personal_number: str) -> int:
        """Merge: the reservnummer patient is the patient with ``personal_number``; pending entries go there."""
        self._reviewer(session, unit_id)
        async with self.journal.pool.connection() as conn, conn.transaction():
            real = await downtime_identity.link(conn, reserve_patient_id, personal_number, session.user_id)
            await self.journal.audit_in(conn, session, "reserve_link", real, "efterregistrering",
                                        reserve_patient=reserve_patient_id)
        return real

    async def pending_counts(self) -> dict[str, int]:
        async with self.journal.pool.connection() as conn:
            return await queue.pending_counts(conn)

    async def confirm(self, session: Session, entry_id: int, duplicates_checked: bool = False) -> dict:
        """Register the entry in the record with its original time, signed by its downtime author (who
        was verified on the ward agent); the reviewer is recorded as the confirmer with the time of
        confirmation (``postreg_registration``). Returns the record row."""
        async with self.journal.pool.connection() as conn, conn.transaction():
            entry = await queue.entry_for_decision(conn, entry_id)
            self._decidable(session, entry)
            author = entry["author_id"]
            if author is None:
                raise Invalid(f"the downtime author {entry['author']!r} is no user of the journal, so the entry "
                              "cannot be signed by its author; reject it and document it yourself")
            # a reservnummer patient linked to the real identity: the entry goes on the real patient
            patient = await downtime_identity.linked_patient(conn, entry["patient_id"]) or entry["patient_id"]
            if not duplicates_checked and await queue.possible_duplicates(conn, entry_id):
                raise Invalid("this entry may already be documented (see the flagged duplicate); "
                              "check it, then confirm with 'checked for duplicates' or reject it")
            if entry["kind"] == "note":
                new = notes.NewNote.model_validate({**entry["payload"], "clinical_at": entry["clinical_at"],
                                                   "unit_id": entry["unit_id"]})
                unit = await self.journal.check_writable(conn, session, patient, entry["unit_id"], REVIEWER_ROLES)
                row = await notes.write(conn, patient, unit, new, author)
            else:
                order = await medication.current_order(conn, entry["order_entry"])
                await self.journal.check_writable(conn, session, order["patient_id"], order["unit_id"], REVIEWER_ROLES)
                new_adm = medication.NewAdministration.model_validate(
                    {**entry["payload"], "clinical_at": entry["clinical_at"]})
                row = await medication.administer(conn, entry["order_entry"], new_adm, author)
            await queue.record_registration(conn, entry, entry["kind"], row["entry_id"], session.user_id)
            await queue.record_decision(conn, entry_id, "confirmed", session.user_id, None)
            await self.journal.audit_in(conn, session, "write", patient, "efterregistrering",
                                        entry=entry["kind"], id=str(row["entry_id"]), postreg=entry_id,
                                        author=entry["author"])
        return row

    async def reject(self, session: Session, entry_id: int, reason: str) -> None:
        reason = (reason or "").strip()
        if len(reason) < 3:
            raise Invalid("say why the entry is rejected (at least 3 characters)")
        async with self.journal.pool.connection() as conn, conn.transaction():
            entry = await queue.entry_for_decision(conn, entry_id)
            self._decidable(session, entry)
            await queue.record_decision(conn, entry_id, "rejected", session.user_id, reason)
            await self.journal.audit_in(conn, session, "postreg_reject", entry["patient_id"], "efterregistrering",
                                        postreg=entry_id)

    def _decidable(self, session: Session, entry: dict) -> None:
        self._reviewer(session, entry["unit_id"])
        final = entry["final"]
        if final is not None:
            word = "confirmed" if final["state"] == "confirmed" else "rejected"
            raise Conflict(f"this entry was already {word} by {final['full_name']}; nothing was changed")
