"""The medication list: orders (ordinationer) and administrations against them.

An order names product (drug), substance, form, strength, dose, route, a frequency with its times
of day (or "vid behov" with a maximum per 24 h), start and stop. An order whose substance, product
or class matches one of the patient's warnings (``record.allergy``) needs a reason, kept on the
order. Stopping an order is a new version carrying stop_at, stopped_by and stop_reason.

An administration signs one dose slot of the schedule (``record.dose_schedule``), given or not
given with a reason; signing a slot again, or a PRN dose beyond the maximum, needs a confirmation
with a reason, kept on the administration. Each form submission carries a key: a double-click or
a reload returns the row the first one made.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.errors import Conflict, Invalid, NotFound
from obruten.platform.fields import Line, Moment, Text, TimeOfDay
from obruten.platform.i18n import local_time, translator
from obruten.postreg.models import NewAdministration  # shared with the ward agent's downtime batch
from obruten.record import allergy, dose_schedule, entries
from obruten.record.dose_schedule import Broken

ROUTES = ("po", "iv", "im", "sc", "rektalt", "inhalation", "kutant", "sublingualt")
Route = Literal["po", "iv", "im", "sc", "rektalt", "inhalation", "kutant", "sublingualt"]
FORMS = ("tablett", "depottablett", "kapsel", "oral lösning", "injektionsvätska", "infusionsvätska",
         "suppositorium", "inhalationspulver", "inhalationsvätska", "kräm", "plåster", "munsönderfallande tablett")
STOPPED_DAYS = 7  # how far back the Utsatta section of the list reaches


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    drug: Line = Field(min_length=1, max_length=200, description="Product name, e.g. Furix")
    substance: Line = Field(default="", max_length=200,
                            description="Active substance, e.g. furosemid (required with flag structured_orders)")
    form: Line = Field(default="", max_length=100,
                       description="Pharmaceutical form, e.g. tablett (required with flag structured_orders)")
    strength: Line = Field(min_length=1, max_length=100)
    dose: Line = Field(min_length=1, max_length=100)
    route: Route
    frequency: Line = Field(min_length=1, max_length=100,
                            description='"x N" (N times a day, N times given) or e.g. "vid behov"')
    times: list[TimeOfDay] = Field(default_factory=list, max_length=24)
    as_needed: bool = False
    prn_max_per_24h: int | None = Field(default=None, ge=1, le=48, description="PRN: most doses in 24 h")
    indication: Text = Field(default="", max_length=500)
    start_at: Moment | None = None
    stop_at: Moment | None = None
    unit_id: Line | None = Field(default=None, min_length=1, max_length=40)
    allergy_override_reason: Text | None = Field(
        default=None, max_length=500, description="Why it is ordered although it matches a recorded allergy/warning")
    submission: UUID | None = Field(default=None, description="Idempotency key: the same key returns the same order")


class StopOrder(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: Text = Field(min_length=3, max_length=500)
    stop_at: Moment | None = None


class SignDose(NewAdministration):
    """An administration signed by a person now: against a slot, with a confirmation if needed."""

    slot_at: Moment | None = Field(default=None, description="The scheduled dose signed (required unless PRN)")
    confirm_reason: Text | None = Field(
        default=None, max_length=500, description="Why a slot is signed again / a PRN dose exceeds its maximum")
    submission: UUID | None = Field(default=None, description="Idempotency key: the same key returns the same row")


class RuleBroken(Invalid):
    """A request breaks medication rules: each ``Broken`` names the field and the catalogue key.
    ``status`` is 409 when all that is missing is a confirmation with a reason."""

    def __init__(self, broken: Sequence[Broken], extra: dict[str, Any] | None = None) -> None:
        self.broken = list(broken)
        self.status = 409 if all(b.key.startswith("med.confirm.") for b in self.broken) else 422
        self.extra = extra or {}
        super().__init__(self.text("en"), problems=self.problems("en"), **self.extra)

    def problems(self, lang: str) -> list[str]:
        t = translator(lang)
        return [f"{b.field}: {t(b.key, **_shown(b.values))}" for b in self.broken]

    def fields(self, lang: str) -> dict[str, str]:
        t = translator(lang)
        out: dict[str, str] = {}
        for b in self.broken:
            out.setdefault(b.field, t(b.key, **_shown(b.values)))
        return out

    def text(self, lang: str) -> str:
        t = translator(lang)
        head = t("med.error.confirm" if self.status == 409 else "med.error.check")
        return f"{head}: " + "; ".join(t(b.key, **_shown(b.values)) for b in self.broken)

    def in_language(self, lang: str) -> Invalid | Conflict:
        """The same refusal as the API answers it, in the reader's language."""
        cls = Conflict if self.status == 409 else Invalid
        return cls(self.text(lang), problems=self.problems(lang), **self.extra)


def _shown(values: Any) -> dict[str, object]:
    return {k: local_time(v, "%H:%M") if isinstance(v, datetime) else v for k, v in dict(values).items()}


async def _lock(conn: psycopg.AsyncConnection, key: str) -> None:
    """Serialise the checks and the insert that follows (released at commit)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))


async def _by_submission(conn: psycopg.AsyncConnection, table: str, submission: UUID | None) -> dict | None:
    if submission is None:
        return None
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql.SQL("SELECT * FROM {} WHERE submission = %s AND version = 1").format(
            sql.Identifier(table)), (submission,))
        return await cur.fetchone()


async def active_warnings(conn: psycopg.AsyncConnection, patient_id: int) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT entry_id, kind, text, severity FROM warning_current WHERE patient_id = %s AND active"
                          " ORDER BY severity = 'life_threatening' DESC, severity = 'high' DESC, clinical_at DESC",
                          (patient_id,))
        return await cur.fetchall()


def order_rules(new: NewOrder, warnings: Sequence[dict], structured: bool = True) -> tuple[list[Broken], list[dict]]:
    """The schedule rules and the allergy check of a new order: (what is wrong, matched warnings).
    ``structured`` (flag ``structured_orders``): substance and form are required too. The schedule
    and allergy checks are safety checks and never depend on a flag."""
    broken = [Broken(name, "med.error.required") for name in ("substance", "form")
              if structured and not getattr(new, name)]
    broken += dose_schedule.order_rules(frequency=new.frequency, times=new.times, as_needed=new.as_needed,
                                       prn_max=new.prn_max_per_24h, start_at=new.start_at, stop_at=new.stop_at)
    matched = allergy.matching_warnings(warnings, new.substance, new.drug)
    if matched and not (new.allergy_override_reason and len(new.allergy_override_reason.strip()) >= 3):
        broken.append(Broken("allergy_override_reason", "med.confirm.allergy",
                             {"warnings": "; ".join(f"{w['text']} ({w['matched']})" for w in matched)}))
    return broken, matched


async def order(conn: psycopg.AsyncConnection, patient_id: int, unit_id: str, new: NewOrder, prescriber: int,
                structured: bool = True) -> dict:
    await _lock(conn, f"medication_order:{patient_id}")
    earlier = await _by_submission(conn, "medication_order", new.submission)
    if earlier is not None:
        if earlier["patient_id"] != patient_id:
            raise Conflict("this form was already used for another patient; open the form again")
        return earlier
    broken, matched = order_rules(new, await active_warnings(conn, patient_id), structured)
    if broken:
        raise RuleBroken(broken, {"matched_warnings": [{"entry_id": str(w["entry_id"]), "text": w["text"],
                                                        "severity": w["severity"], "matched": w["matched"]}
                                                       for w in matched]})
    return await entries.insert(conn, "medication_order", {
        "patient_id": patient_id, "unit_id": unit_id, "drug": new.drug, "substance": new.substance,
        "form": new.form, "strength": new.strength, "dose": new.dose, "route": new.route,
        "frequency": new.frequency, "times": sorted(new.times), "as_needed": new.as_needed,
        "prn_max_per_24h": new.prn_max_per_24h, "indication": new.indication,
        "start_at": new.start_at or datetime.now(UTC), "stop_at": new.stop_at,
        "allergy_override_reason": new.allergy_override_reason if matched else None,
        "submission": new.submission}, prescriber)


async def current_order(conn: psycopg.AsyncConnection, order_entry: UUID) -> dict:
    try:
        return await entries.current(conn, "medication_order", order_entry)
    except NotFound as exc:
        raise NotFound(f"no medication order {order_entry}") from exc


async def stop(conn: psycopg.AsyncConnection, order_entry: UUID, stop: StopOrder, prescriber: int) -> dict:
    await _lock(conn, f"medication_order_entry:{order_entry}")
    current = await current_order(conn, order_entry)
    at = stop.stop_at or datetime.now(UTC)
    if current["stop_reason"] is not None or (current["stop_at"] is not None and current["stop_at"] <= at):
        raise RuleBroken([Broken("reason", "med.error.already_stopped")])
    if at < current["start_at"]:
        raise RuleBroken([Broken("stop_at", "med.error.stop_before_start")])
    return await entries.correct(conn, "medication_order", order_entry,
                                 {"stop_at": at, "stop_reason": stop.reason, "stopped_by": prescriber},
                                 prescriber, reason=stop.reason)


async def administer(conn: psycopg.AsyncConnection, order_entry: UUID, new: NewAdministration,
                     signed_by: int, *, now: datetime | None = None) -> dict:
    """Record an administration. A ``SignDose`` (signed by a person now) must pass the schedule
    rules; a plain ``NewAdministration`` (a downtime record being post-registered) is taken at its
    original time as it was documented."""
    await _lock(conn, f"medication_order_entry:{order_entry}")
    sign = new if isinstance(new, SignDose) else None
    if sign is not None:
        earlier = await _by_submission(conn, "medication_administration", sign.submission)
        if earlier is not None:
            if earlier["order_entry"] != order_entry:
                raise Conflict("this form was already used for another order; open the form again")
            return earlier
    current = await current_order(conn, order_entry)
    now = now or datetime.now(UTC)
    at = new.clinical_at or now
    if current["stop_at"] is not None and at > current["stop_at"]:
        raise RuleBroken([Broken("clinical_at", "med.error.order_stopped")])
    confirmed: str | None = None
    if sign is not None:
        slot = sign.slot_at.astimezone(UTC) if sign.slot_at else None
        found = dose_schedule.signing_rules(
            current, await administrations(conn, order_entry, since=at - timedelta(hours=48)), outcome=sign.outcome,
            slot=slot, given_at=at, now=now, confirm_reason=None)
        asks = [b for b in found if b.key.startswith("med.confirm.")]
        reason = (sign.confirm_reason or "").strip()
        broken = [b for b in found if b not in asks] + ([] if len(reason) >= 3 else asks)
        if broken:
            raise RuleBroken(broken)
        confirmed = reason if asks else None
    return await entries.insert(conn, "medication_administration", {
        "patient_id": current["patient_id"], "order_entry": order_entry, "outcome": new.outcome,
        "dose_given": new.dose_given or (current["dose"] if new.outcome == "given" else ""),
        "not_given_reason": new.not_given_reason, "clinical_at": at,
        "slot_at": sign.slot_at if sign else None, "confirm_reason": confirmed,
        "submission": sign.submission if sign else None}, signed_by)


async def administrations(conn: psycopg.AsyncConnection, order_entry: UUID, since: datetime | None = None) -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT m.*, s.full_name AS signed_by_name, r.registered_at AS downtime_registered_at,"
            " r.author AS downtime_author, rb.full_name AS downtime_confirmed_by FROM medication_administration_current m"
            " JOIN staff s ON s.id = m.signed_by LEFT JOIN postreg_registration r"
            "   ON r.entry_table = 'medication_administration' AND r.entry_id = m.entry_id"
            " LEFT JOIN staff rb ON rb.id = r.registered_by"
            " WHERE m.order_entry = %s AND (%s::timestamptz IS NULL OR m.clinical_at > %s OR m.slot_at > %s)"
            " ORDER BY m.clinical_at DESC",
            (order_entry, since, since, since))
        return await cur.fetchall()


LIST_SQL = """
SELECT o.*, s.full_name AS prescriber, st.full_name AS stopped_by_name,
       (SELECT to_json(array_agg(to_char(t, 'HH24:MI') ORDER BY t)) FROM unnest(o.times) t) AS times_text,
       COALESCE((SELECT json_agg(json_build_object('entry_id', m.entry_id, 'outcome', m.outcome,
                   'clinical_at', m.clinical_at, 'slot_at', m.slot_at, 'dose_given', m.dose_given,
                   'not_given_reason', m.not_given_reason, 'confirm_reason', m.confirm_reason,
                   'signed_at', m.signed_at, 'signed_by_name', ms.full_name) ORDER BY m.clinical_at)
                 FROM medication_administration_current m JOIN staff ms ON ms.id = m.signed_by
                 WHERE m.order_entry = o.entry_id
                   AND (m.clinical_at > now() - interval '36 hours' OR m.slot_at > now() - interval '36 hours')),
                '[]'::json) AS recent_administrations
FROM medication_order_current o
JOIN staff s ON s.id = (SELECT v1.signed_by FROM medication_order v1 WHERE v1.entry_id = o.entry_id AND v1.version = 1)
LEFT JOIN staff st ON st.id = o.stopped_by
WHERE o.patient_id = %(p)s
  AND (o.stop_at IS NULL OR o.stop_at > now() - make_interval(days => %(days)s))
ORDER BY o.as_needed, o.drug, o.start_at
"""


async def medication_list(conn: psycopg.AsyncConnection, patient_id: int, now: datetime | None = None) -> dict:
    """The läkemedelslista: current orders with today's dose slots, and the orders stopped in the
    last ``STOPPED_DAYS`` days (Utsatta) with when, by whom and why."""
    return build_list(await list_rows(conn, patient_id), now or datetime.now(UTC))


async def list_rows(conn: psycopg.AsyncConnection, patient_id: int) -> list[dict]:
    """The läkemedelslista's rows as stored (``build_list`` makes the list of them at a moment)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(LIST_SQL, {"p": patient_id, "days": STOPPED_DAYS})
        return await cur.fetchall()


def build_list(stored: list[dict], now: datetime) -> dict:
    """The läkemedelslista at ``now`` from ``list_rows`` (which it leaves as they are: a read copy
    reuses them while nothing is replayed)."""
    rows = [dict(row) for row in stored]
    current, stopped = [], []
    for row in rows:
        row["times"] = row.pop("times_text") or []
        row.pop("submission", None)
        if row["stop_at"] is not None and row["stop_at"] <= now:
            stopped.append(row)
            continue
        recent = row.pop("recent_administrations")
        row["slots_today"] = dose_schedule.day_slots(row, recent, now)
        if row["as_needed"]:
            row["prn_given_24h"] = dose_schedule.prn_given_in_24h(recent, now)
        row["last_administration"] = recent[-1] if recent else None
        current.append(row)
    stopped.sort(key=lambda r: r["stop_at"], reverse=True)
    for row in stopped:
        row.pop("recent_administrations", None)
    return {"current": current, "stopped": stopped, "stopped_days": STOPPED_DAYS, "as_of": now}
