"""The journal's services for a logged-in user: access control, audit and the record together.

Callable without HTTP (the web UI, the API, the CLI, and later the ward-kit builder and a FHIR
facade all go through here). Every read of a patient's record is audited before it is returned;
every write is checked against the user's role, the care relation and the write guard (the
operating mode, added by the read-copy/status work).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from obruten.platform.auth import Session
from obruten.platform.errors import Conflict, Forbidden, Invalid, NeedsEmergencyAccess, NotFound
from obruten.platform.flags import Switch
from obruten.platform.i18n import STOCKHOLM
from obruten.record import (
    access,
    admission,
    entries,
    flags,
    medication,
    notes,
    patients,
    referrals,
    revocation,
    staff,
    ward,
    write_guard,
)
from obruten.record.audit import AuditEvent, AuditWriter, append_chained, check_purpose

WriteGuard = Callable[[Session, str | None], Awaitable[None]]


async def allow_all_writes(session: Session, unit_id: str | None) -> None:
    return None


def page_of(order: dict, given: list[dict], rows: list[dict], banner: dict) -> dict:
    """The medication page's parts (``Journal.medication_page``); the list is built at this moment."""
    listing = medication.build_list(rows, datetime.now(UTC))
    listed = next((m for m in listing["current"] if m["entry_id"] == order["entry_id"]), None)
    return {"order": order, "given": given, "listed": listed, "banner": banner}


@dataclass
class Journal:
    pool: AsyncConnectionPool
    audit: AuditWriter
    node: str = "journal"
    emergency_hours: int = 4
    write_guard: WriteGuard = allow_all_writes

    # ---- audit ---------------------------------------------------------------------------------
    def event(self, session: Session, action: str, patient_id: int | None, purpose: str,
              detail: dict[str, str | int | bool | None]) -> AuditEvent:
        """What ``session`` did (never the record's contents), for the audit log."""
        try:
            check_purpose(purpose)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        return AuditEvent(actor=session.username, actor_id=session.user_id, action=action,
                          patient_id=patient_id, purpose=purpose, detail=detail, node=self.node)

    async def audit_action(self, session: Session, action: str, patient_id: int | None = None,
                           purpose: str = "system", **detail: str | int | bool | None) -> None:
        """Record a read (or another act that changes nothing); returns once it is durable."""
        await self.audit.record(self.event(session, action, patient_id, purpose, detail))

    async def audit_in(self, conn: AsyncConnection, session: Session, action: str, patient_id: int | None,
                       purpose: str = "vård", **detail: str | int | bool | None) -> None:
        """Record a write in the write's own transaction on ``conn``: both commit or neither does.
        Call it last in the transaction (it holds the audit chain's lock until commit). A write let
        through by a reserve-routine override is marked on its entry here (``write_guard``)."""
        override_event = await write_guard.mark_written(conn, patient_id, detail)
        if override_event is not None:
            detail = {**detail, "override_event": override_event}
        await append_chained(conn, [self.event(session, action, patient_id, purpose, detail)])

    async def _require_read(self, conn: AsyncConnection, session: Session, patient_id: int) -> access.Access:
        """The access decision; a read copy adds its locally granted emergency accesses."""
        return await access.require_read(conn, session, patient_id)

    async def _require_read_entry(self, conn: AsyncConnection, session: Session, patient_id: int) -> access.Access:
        """The access decision for an entry reached by its own id: a refusal does not name the
        patient (the caller asked about an entry, not a patient, and may not learn whose it is)."""
        try:
            return await self._require_read(conn, session, patient_id)
        except NeedsEmergencyAccess as exc:
            raise Forbidden("this entry belongs to a patient outside your care units; open the patient's "
                            "record first (with emergency access and a reason, if you must)") from exc

    # ---- reads ----------------------------------------------------------------------------------
    async def units(self) -> list[dict]:
        async with self.pool.connection() as conn:
            return await ward.units(conn)

    async def ward_list_json(self, session: Session, unit_id: str) -> str:
        if unit_id not in session.units:
            raise Forbidden(f"you do not work on unit {unit_id}")
        async with self.pool.connection() as conn:
            await ward.unit(conn, unit_id)
            body = await ward.ward_list_json(conn, unit_id)
        await self.audit_action(session, "read_ward_list", purpose="vård", unit=unit_id)
        return body

    async def overview_json(self, session: Session, patient_id: int, purpose: str = "vård") -> str:
        self.event(session, "read", patient_id, purpose, {})  # an unknown purpose is refused before the read
        async with self.pool.connection() as conn:
            patient_id = await admission.resolve(conn, patient_id)  # a merged reserve number: its patient
            grant = await self._require_read(conn, session, patient_id)
            body = await patients.overview_json(conn, patient_id)
        await self.audit_action(session, "read", patient_id, purpose, view="overview", basis=grant.basis)
        return body

    async def overview(self, session: Session, patient_id: int, purpose: str = "vård") -> dict:
        return json.loads(await self.overview_json(session, patient_id, purpose))

    async def history(self, session: Session, table: str, entry_id: UUID) -> list[dict]:
        async with self.pool.connection() as conn:
            versions = await entries.history(conn, table, entry_id)
            grant = await self._require_read_entry(conn, session, versions[0]["patient_id"])
            marked = await write_guard.markings(conn, str(entry_id))
            versions = [{**v, "override": marked.get(v.get("version", 1))} for v in versions]
        await self.audit_action(session, "read", grant.patient_id, "vård", view=f"history:{table}", entry=str(entry_id))
        return versions

    async def administrations(self, session: Session, order_entry: UUID) -> tuple[dict, list[dict]]:
        async with self.pool.connection() as conn:
            order = await medication.current_order(conn, order_entry)
            grant = await self._require_read_entry(conn, session, order["patient_id"])
            given = await medication.administrations(conn, order_entry)
        await self.audit_action(session, "read", grant.patient_id, "vård", view="administrations", entry=str(order_entry))
        return order, given

    async def medication_page(self, session: Session, order_entry: UUID) -> dict:
        """What the administration page shows: the order, its administrations, its line of the
        läkemedelslista (today's dose slots) and the patient banner. One access decision and one
        audited read for the page (not one per part: the page is one look at one order)."""
        async with self.pool.connection() as conn:
            order = await medication.current_order(conn, order_entry)
            grant = await self._require_read_entry(conn, session, order["patient_id"])
            given = await medication.administrations(conn, order_entry)
            rows = await medication.list_rows(conn, grant.patient_id)
            banner = await patients.banner(conn, grant.patient_id)
        await self.audit_action(session, "read", grant.patient_id, "vård", view="medication_page",
                                entry=str(order_entry), basis=grant.basis)
        return page_of(order, given, rows, banner)

    async def medication_list(self, session: Session, patient_id: int) -> dict:
        """The läkemedelslista (current with today's dose slots, Utsatta); an audited read."""
        self.event(session, "read", patient_id, "vård", {})
        async with self.pool.connection() as conn:
            grant = await self._require_read(conn, session, patient_id)
            found = await medication.medication_list(conn, patient_id)
        await self.audit_action(session, "read", patient_id, "vård", view="medication_list", basis=grant.basis)
        return found

    async def find_patient(self, session: Session, personal_number: str) -> int:
        """The patient with this personal number. Staff who read records search for care, admins to
        review an access log; other roles may not search. Every search is audited (the result's id,
        never the number searched for)."""
        if session.clinical:
            purpose = "vård"
        elif session.role == "admin":
            purpose = "tillsyn"
        else:
            raise Forbidden(f"your role ({session.role}) may not search for patients")
        async with self.pool.connection() as conn:
            found = await patients.find_by_personal_number(conn, personal_number)
        await self.audit_action(session, "search_personal_number", found, purpose, found=found is not None)
        if found is None:
            raise NotFound("no patient with that personal number")
        return found

    # ---- administration of accounts ---------------------------------------------------------------
    def _require_admin(self, session: Session) -> None:
        if session.role != "admin":
            raise Forbidden("only admins manage accounts")

    async def staff_listing(self, session: Session, query: str = "") -> list[dict]:
        self._require_admin(session)
        async with self.pool.connection() as conn:
            rows = await staff.listing(conn, query=query.strip())
        await self.audit_action(session, "read_staff_list", None, "administration")
        return rows

    async def create_user(self, session: Session, username: str, full_name: str, role: str,
                          password: str | None, units: list[str]) -> int:
        """A new account, audited in the same transaction."""
        self._require_admin(session)
        async with self.pool.connection() as conn:
            user_id = await staff.create(conn, username, full_name, role, password, units)
            await self.audit_in(conn, session, "admin_create_user", None, "administration", user=user_id,
                                username=username.strip().lower(), role=role, units=",".join(units))
        return user_id

    async def set_user_active(self, session: Session, user_id: int, active: bool) -> None:
        """Activate or deactivate an account, audited in the same transaction. Deactivating ends
        every session of the account (on every node within seconds: ``record.revocation``)."""
        self._require_admin(session)
        async with self.pool.connection() as conn:
            await staff.set_active(conn, user_id, active)
            if not active:
                await revocation.revoke_user(conn, user_id, self.node)
            await self.audit_in(conn, session, "admin_set_active", None, "administration", user=user_id,
                                active=active)

    # ---- emergency access and access logs ------------------------------------------------------------
    async def grant_emergency(self, session: Session, patient_id: int, reason: str) -> dict:
        async with self.pool.connection() as conn:
            row = await access.grant_emergency(conn, session, patient_id, reason, self.emergency_hours)
            await self.audit_in(conn, session, "emergency_access", patient_id, "nödåtkomst",
                                reason=row["reason"], expires_at=row["expires_at"].isoformat())
        return row

    async def access_log(self, session: Session, patient_id: int, limit: int = 500) -> list[dict]:
        if session.role != "admin":
            raise Forbidden("only admins read access logs")
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT 1 FROM patient WHERE id = %s", (patient_id,))
            if await cur.fetchone() is None:
                raise NotFound(f"no patient {patient_id}")
            await cur.execute(
                "SELECT id, at, node, actor, actor_id, action, purpose, detail FROM audit_event"
                " WHERE patient_id = %s ORDER BY at DESC, id DESC LIMIT %s", (patient_id, limit))
            rows = await cur.fetchall()
        await self.audit_action(session, "read_access_log", patient_id, "tillsyn")
        return rows

    async def emergency_accesses(self, session: Session) -> list[dict]:
        if session.role != "admin":
            raise Forbidden("only admins see emergency accesses")
        async with self.pool.connection() as conn:
            return await access.recent_emergency_access(conn)

    # ---- feature flags (admins) ------------------------------------------------------------------------
    async def flag_switches(self, session: Session) -> list[Switch]:
        if session.role != "admin":
            raise Forbidden("only admins see and switch feature flags")
        async with self.pool.connection() as conn:
            return await flags.switches(conn)

    async def switch_flag(self, session: Session, name: str, on: bool, *, unit: str | None, reason: str,
                          var_dir: Path | None) -> Switch:
        """Record a switch and its audit event in one transaction (``flags.switch``); a system event after."""
        if session.role != "admin":
            raise Forbidden("only admins switch feature flags")
        async with self.pool.connection() as conn:
            try:
                return await flags.switch(conn, name, on, unit=unit, by=session.username, reason=reason,
                                          var_dir=var_dir)
            except ValueError as exc:
                raise Invalid(str(exc)) from exc

    # ---- writes -----------------------------------------------------------------------------------
    async def check_writable(self, conn: AsyncConnection, session: Session, patient_id: int, unit_id: str | None,
                             roles: tuple[str, ...], *, by_entry: bool = False,
                             times: dict[str, datetime | None] | None = None) -> str:
        """Check role, care relation, clinical ``times`` and write guard; return the unit the entry
        belongs to. Every clinical write goes through here (the journal's own and post-registration's)."""
        if session.role not in roles:
            raise Forbidden(f"your role ({session.role}) cannot do this; it needs: {', '.join(roles)}")
        if by_entry:
            await self._require_read_entry(conn, session, patient_id)
        else:
            await self._require_read(conn, session, patient_id)
        cur = await conn.execute(
            "SELECT unit_id FROM admission_current WHERE patient_id = %s AND discharged_at IS NULL"
            " ORDER BY admitted_at DESC LIMIT 1", (patient_id,))
        row = await cur.fetchone()
        admitted_to = row[0] if row else None
        if unit_id is None:
            unit_id = admitted_to or (session.units[0] if session.units else None)
        elif unit_id not in session.units and unit_id != admitted_to:
            # an entry belongs to a unit the author works on, or where the patient is admitted
            # (and a unit's reserve-routine write block cannot be stepped around by naming another)
            raise Forbidden(f"you do not work on unit {unit_id} and the patient is not admitted there; "
                            "book the entry to your own unit or the patient's ward")
        if unit_id is None:
            raise Invalid("say which care unit the entry belongs to (unit_id)")
        await self._after_birth(conn, patient_id, times or {})
        await self.write_guard(session, unit_id)
        return unit_id

    async def _after_birth(self, conn: AsyncConnection, patient_id: int, times: dict[str, datetime | None]) -> None:
        """A clinical time is not before the patient's birth day (local time). The models bound the
        rest (time zone, not in the future: ``platform.fields.ClinicalTime``); this needs the record."""
        given = {name: at for name, at in times.items() if at is not None}
        if not given:
            return
        cur = await conn.execute("SELECT birth_date FROM patient WHERE id = %s", (patient_id,))
        row = await cur.fetchone()
        if row is None:
            return
        born = datetime.combine(row[0], datetime.min.time(), tzinfo=STOCKHOLM)
        early = [f"{name}: before the patient was born ({row[0].isoformat()})" for name, at in given.items() if at < born]
        if early:
            raise Invalid("a clinical time is before the patient's birth; check the date", problems=early)

    async def write_note(self, session: Session, patient_id: int, new: notes.NewNote) -> dict:
        async with self.pool.connection() as conn:
            unit = await self.check_writable(conn, session, patient_id, new.unit_id, ("physician", "nurse"),
                                             times={"clinical_at": new.clinical_at})
            notes.check_kind(session.role, new.kind)  # issue 14: note kinds by role
            row = await notes.write(conn, patient_id, unit, new, session.user_id)
            await self.audit_in(conn, session, "write", patient_id, "vård", entry="note", id=str(row["entry_id"]))
        return row

    async def correct_note(self, session: Session, entry_id: UUID, fix: notes.NoteCorrection) -> dict:
        async with self.pool.connection() as conn:
            latest = await entries.current(conn, "note", entry_id)
            await self.check_writable(conn, session, latest["patient_id"], latest["unit_id"], ("physician", "nurse"), by_entry=True)
            notes.check_author(session.user_id, await notes.original_author(conn, entry_id))  # issue 14
            changes: dict[str, object] = {"body": fix.body}
            if fix.title is not None:
                changes["title"] = fix.title
            row = await entries.correct(conn, "note", entry_id, changes, session.user_id, fix.reason,
                                        fix.expected_version)
            await self.audit_in(conn, session, "write", row["patient_id"], "vård", entry="note", id=str(entry_id), version=row["version"])
        return row

    async def order_medication(self, session: Session, patient_id: int, new: medication.NewOrder,
                               structured: Callable[[str], bool] | None = None) -> dict:
        """``structured(unit)``: is flag structured_orders on for the unit (None: yes)."""
        async with self.pool.connection() as conn:
            unit = await self.check_writable(conn, session, patient_id, new.unit_id, ("physician",),
                                             times={"start_at": new.start_at, "stop_at": new.stop_at})
            row = await medication.order(conn, patient_id, unit, new, session.user_id,
                                         structured=structured(unit) if structured else True)
            await self.audit_in(conn, session, "write", patient_id, "vård", entry="medication_order", id=str(row["entry_id"]),
                                allergy_override=row["allergy_override_reason"] is not None)
        return row

    async def stop_medication(self, session: Session, order_entry: UUID, stop: medication.StopOrder) -> dict:
        async with self.pool.connection() as conn:
            order = await medication.current_order(conn, order_entry)
            await self.check_writable(conn, session, order["patient_id"], order["unit_id"], ("physician",), by_entry=True,
                                      times={"stop_at": stop.stop_at})
            row = await medication.stop(conn, order_entry, stop, session.user_id)
            await self.audit_in(conn, session, "write", row["patient_id"], "vård", entry="medication_order:stop", id=str(order_entry))
        return row

    async def administer(self, session: Session, order_entry: UUID, new: medication.SignDose) -> dict:
        async with self.pool.connection() as conn:
            order = await medication.current_order(conn, order_entry)
            await self.check_writable(conn, session, order["patient_id"], order["unit_id"], ("physician", "nurse"), by_entry=True,
                                      times={"clinical_at": new.clinical_at})
            row = await medication.administer(conn, order_entry, new, session.user_id)
            await self.audit_in(conn, session, "write", row["patient_id"], "vård", entry="medication_administration",
                                id=str(row["entry_id"]), slot=row["slot_at"].isoformat() if row["slot_at"] else None,
                                confirmed=row["confirm_reason"] is not None)
        return row

    async def create_referral(self, session: Session, patient_id: int, new: referrals.NewReferral) -> dict:
        async with self.pool.connection() as conn:
            unit = await self.check_writable(conn, session, patient_id, new.unit_id, ("physician",))
            row = await referrals.create(conn, patient_id, unit, new, session.user_id)
            await self.audit_in(conn, session, "write", patient_id, "vård", entry="referral", order_number=row["order_number"])
        return row

    async def add_result(self, session: Session, order_number: str, new: referrals.NewResult) -> dict:
        async with self.pool.connection() as conn:
            referral = await referrals.by_order_number(conn, order_number)
            await self.check_writable(conn, session, referral["patient_id"], referral["unit_id"], ("physician", "nurse"), by_entry=True,
                                      times={"clinical_at": new.clinical_at})
            row = await referrals.add_result(conn, order_number, new, session.user_id)
            await self.audit_in(conn, session, "write", row["patient_id"], "vård", entry="referral_result", order_number=order_number)
        return row

    # ---- ADT and the patient banner (issue 14: admission.py, patients.banner) ------------------------
    async def patient_banner(self, session: Session, patient_id: int) -> dict:
        """The banner of a patient the user may read (name, number, age, sex, unit, warnings)."""
        async with self.pool.connection() as conn:
            await self._require_read_entry(conn, session, patient_id)
            return await patients.banner(conn, patient_id)

    async def emergency_identity(self, session: Session, patient_id: int) -> dict:
        """Who the emergency-access prompt is about to open: name, number, age, sex and unit, never
        the record (no warnings). Audited as a read of the identity only."""
        if not session.clinical:
            raise Forbidden("your role does not read patient records")
        async with self.pool.connection() as conn:
            found = await patients.banner(conn, patient_id, identity_only=True)
        await self.audit_action(session, "read_identity", patient_id, "nödåtkomst", view="emergency_prompt")
        return found

    async def resolve_patient(self, patient_id: int) -> int:
        """The patient a merged reserve number now belongs to (itself otherwise)."""
        async with self.pool.connection() as conn:
            return await admission.resolve(conn, patient_id)

    async def _adt_check(self, conn: AsyncConnection, session: Session, unit_id: str) -> None:
        if session.role not in ("physician", "nurse"):
            raise Forbidden(f"your role ({session.role}) cannot admit, transfer or discharge patients")
        if unit_id not in session.units:
            raise Forbidden(f"you do not work on unit {unit_id}", unit_id=unit_id, msg_key="adt.not_your_unit")
        await self.write_guard(session, unit_id)

    async def admit(self, session: Session, new: admission.NewAdmission) -> dict:
        """Admit a patient to one of the user's units (a new reserve number for an unidentified one)."""
        async with self.pool.connection() as conn:
            await self._adt_check(conn, session, new.unit_id)
            patient_id = await admission.patient_for(conn, new)
            await admission.lock(conn, patient_id)
            await self._after_birth(conn, patient_id, {"admitted_at": new.admitted_at})
            row = await admission.admit(conn, patient_id, new.unit_id, new.cause, new.admitted_at, session.user_id)
            await self.audit_in(conn, session, "admit", patient_id, "vård", unit=new.unit_id,
                                id=str(row["entry_id"]), reserve=bool(new.unidentified))
        return {**row, "banner": await self._banner(patient_id)}

    async def _current_stay(self, conn: AsyncConnection, session: Session, patient_id: int) -> dict:
        await self._require_read(conn, session, patient_id)
        await admission.lock(conn, patient_id)
        current = await admission.open_admission(conn, patient_id)
        if current is None:
            raise Conflict("the patient is not admitted anywhere; admit first")
        await self._adt_check(conn, session, current["unit_id"])
        return current

    async def transfer(self, session: Session, patient_id: int, move: admission.Transfer) -> dict:
        """Move an admitted patient from the user's unit to another unit."""
        async with self.pool.connection() as conn:
            current = await self._current_stay(conn, session, patient_id)
            await self.write_guard(session, move.to_unit)
            row = await admission.transfer(conn, current, move, session.user_id)
            await self.audit_in(conn, session, "transfer", patient_id, "vård", from_unit=current["unit_id"],
                                to_unit=move.to_unit, id=str(row["entry_id"]))
        return {**row, "banner": await self._banner(patient_id)}

    async def discharge(self, session: Session, patient_id: int, out: admission.Discharge) -> dict:
        async with self.pool.connection() as conn:
            current = await self._current_stay(conn, session, patient_id)
            row = await admission.discharge(conn, current, out, session.user_id)
            await self.audit_in(conn, session, "discharge", patient_id, "vård", unit=current["unit_id"],
                                id=str(row["entry_id"]))
        return row

    async def merge(self, session: Session, reserve_id: int, merge: admission.Merge) -> dict:
        """Merge a reserve number into the patient's real identity: every entry moves, the old number
        resolves to the merged patient, audited under both numbers in the same transaction."""
        async with self.pool.connection() as conn:
            await self._require_read(conn, session, reserve_id)
            if session.role not in ("physician", "nurse"):
                raise Forbidden(f"your role ({session.role}) cannot merge identities")
            real_id = await patients.find_by_personal_number(conn, merge.personal_number)
            if real_id is None:
                raise NotFound("no patient with that personal number; admit or register the patient first",
                               field="personal_number")
            done = await admission.merge(conn, reserve_id, real_id, session.user_id, merge.reason)
            await append_chained(conn, [
                self.event(session, "merge_identity", reserve_id, "vård", {"into": real_id, "reason": merge.reason}),
                self.event(session, "merge_identity", real_id, "vård", {"from": reserve_id, "reason": merge.reason})])
        return done

    async def adt_history(self, session: Session, patient_id: int) -> list[dict]:
        async with self.pool.connection() as conn:
            await self._require_read(conn, session, patient_id)
            rows = await admission.history(conn, patient_id)
        await self.audit_action(session, "read", patient_id, "vård", view="adt_history")
        return rows

    async def referral_banner(self, session: Session, order_number: str) -> dict:
        """The banner of the patient a referral (and so its result form) is about."""
        async with self.pool.connection() as conn:
            referral = await referrals.by_order_number(conn, order_number)
            await self._require_read_entry(conn, session, referral["patient_id"])
            return await patients.banner(conn, referral["patient_id"])

    async def _banner(self, patient_id: int) -> dict:
        async with self.pool.connection() as conn:
            return await patients.banner(conn, patient_id)
