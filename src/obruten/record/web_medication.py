"""Medication screens: the order form, the administration page (dose slots, signing, stopping).

Every POST answers with a redirect (post/redirect/get) or, when something must be fixed or
confirmed, the same form again (422/409) with the messages next to their fields and what was
typed kept (``record.forms.check``). Each form carries a submission key, so a double-click or a
resent form finds the first row instead of writing another.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.platform.i18n import STOCKHOLM, translator
from obruten.record import forms, medication
from obruten.record.deps import FlagsDep, FormDep, JournalDep, LanguageDep, RenderDep, SessionDep
from obruten.record.flags import STRUCTURED_ORDERS

router = APIRouter(include_in_schema=False)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _local_input(value: str, lang: str, name: str, errors: dict[str, str]) -> str | None:
    """A datetime-local input (Stockholm wall clock) as ISO with offset; None if empty."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=STOCKHOLM)).isoformat()
    except ValueError:
        errors[name] = translator(lang)("med.error.time_format")
        return None


# ---- ordering --------------------------------------------------------------------------------------------
@router.get("/patients/{patient}/medication/new", response_class=HTMLResponse)
async def order_form(patient: int, session: SessionDep, journal: JournalDep, render: RenderDep,
                     flags: FlagsDep) -> Response:
    data = await journal.overview(session, patient, purpose="vård")
    return render("form_medication.html", p=data, pb=data["patient"], patient_id=patient, values={"submission": str(uuid.uuid4())},
                  errors={}, forms=medication.FORMS, routes=medication.ROUTES,
                  structured=flags.on(STRUCTURED_ORDERS, _ward(data)))


@router.post("/patients/{patient}/medication")
async def post_order(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                     lang: LanguageDep, flags: FlagsDep) -> Response:
    fields: dict[str, Any] = dict(data)
    fields["times"] = [t.strip() for t in data.get("times", "").replace(";", ",").split(",") if t.strip()]
    fields["as_needed"] = data.get("as_needed") == "on"
    errors: dict[str, str] = {}
    for name in ("start_at", "stop_at"):
        fields[name] = _local_input(data.get(name, ""), lang, name, errors) or ""
    new, found = forms.check(medication.NewOrder, fields, lang)
    errors.update(found)
    status, matched = 422, []
    if new is not None and not errors:
        try:
            await journal.order_medication(session, patient, new, partial(flags.on, STRUCTURED_ORDERS))
            return _back(f"/patients/{patient}#medications")
        except medication.RuleBroken as exc:
            errors, status = exc.fields(lang), exc.status
            matched = exc.extra.get("matched_warnings", [])
    overview = await journal.overview(session, patient, purpose="vård")
    return render("form_medication.html", status, p=overview, pb=overview["patient"], patient_id=patient,
                  values=dict(data), errors=errors, matched=matched, forms=medication.FORMS, routes=medication.ROUTES,
                  structured=flags.on(STRUCTURED_ORDERS, _ward(overview)))


def _ward(overview: dict[str, Any]) -> str | None:
    """The unit the patient is admitted to (the flag's unit), if any."""
    admission = overview.get("admission") or {}
    unit = admission.get("unit_id") if isinstance(admission, dict) else None
    return str(unit) if unit else None


# ---- the administration page -------------------------------------------------------------------------------
async def _order_page(order: UUID, session: Any, journal: Any, render: Any, status: int = 200,
                      values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                      stop_errors: dict[str, str] | None = None, slot: str = "") -> Response:
    page = await journal.medication_page(session, order)
    current, given, listed, pb = page["order"], page["given"], page["listed"], page["banner"]
    slots = listed["slots_today"] if listed else []
    chosen = (values or {}).get("slot_at") or slot
    if not chosen:  # the first slot that is overdue or due (a planned one is never chosen for the nurse)
        open_slots = [s for s in slots if s["state"] in ("overdue", "due")]
        chosen = open_slots[0]["slot_at"].isoformat() if open_slots else ""
    base = {"outcome": "given", "dose_given": current["dose"], "submission": str(uuid.uuid4()),
            "clinical_at": datetime.now(STOCKHOLM).strftime("%Y-%m-%d %H:%M"), "slot_at": chosen}
    return render("medication.html", status, order=current, given=given, listed=listed, slots=slots, pb=pb,
                  banner_unit=pb.get("unit_id") or current.get("unit_id"), patient_id=current["patient_id"], values={**base, **(values or {})}, errors=errors or {},
                  stop_errors=stop_errors or {}, stop_submission=str(uuid.uuid4()))


@router.get("/medication/{order}", response_class=HTMLResponse)
async def medication_page(order: UUID, session: SessionDep, journal: JournalDep, render: RenderDep,
                          slot: str = "") -> Response:
    return await _order_page(order, session, journal, render, slot=slot[:40])


@router.post("/medication/{order}/administrations")
async def post_administration(order: UUID, session: SessionDep, data: FormDep, journal: JournalDep,
                              render: RenderDep, lang: LanguageDep) -> Response:
    errors: dict[str, str] = {}
    fields: dict[str, Any] = {k: v for k, v in data.items() if k != "back"}
    fields["clinical_at"] = _local_input(data.get("clinical_at", ""), lang, "clinical_at", errors) or ""
    if fields.get("outcome") == "given":
        fields.pop("not_given_reason", None)
    else:  # the dose field is prefilled with the ordered dose: nothing was given
        fields.pop("dose_given", None)
    new, found = forms.check(medication.SignDose, fields, lang)
    errors = {**found, **errors}
    status = 422
    if new is not None and not errors:
        try:
            row = await journal.administer(session, order, new)
            return _back(f"/patients/{row['patient_id']}#medications")
        except medication.RuleBroken as exc:
            errors, status = exc.fields(lang), exc.status
    return await _order_page(order, session, journal, render, status, values=dict(data), errors=errors)


@router.post("/medication/{order}/stop")
async def post_stop(order: UUID, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                    lang: LanguageDep) -> Response:
    stop, errors = forms.check(medication.StopOrder, {"reason": data.get("reason", "")}, lang)
    status = 422
    if stop is not None:
        try:
            row = await journal.stop_medication(session, order, stop)
            return _back(f"/patients/{row['patient_id']}#medications")
        except medication.RuleBroken as exc:
            errors, status = exc.fields(lang), exc.status
    return await _order_page(order, session, journal, render, status, stop_errors=errors,
                             values={"stop_reason": data.get("reason", "")})
