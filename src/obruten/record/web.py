"""Server-rendered screens for clinical staff: login, ward list, patient overview and the forms."""

from __future__ import annotations

import secrets
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from obruten.platform.auth import Session
from obruten.platform.errors import Forbidden, Invalid, NotFound
from obruten.platform.i18n import LANGUAGES
from obruten.record import medication, notes, referrals, staff
from obruten.record.app import LANG_COOKIE, SESSION_COOKIE, current_session, render, runtime
from obruten.record.audit import AuditEvent
from obruten.record.entries import ENTRY_TABLES

router = APIRouter(include_in_schema=False)


async def _session(request: Request) -> Session:
    session = await current_session(request)
    request.state.session = session
    return session


async def _form(request: Request, session: Session | None) -> dict[str, Any]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    token = data.pop("csrf", "")
    rt = runtime(request)
    ok = (rt.signer.check_csrf(session, token) if session
          else bool(token) and secrets.compare_digest(token, request.cookies.get("obruten_csrf", "")))
    if not ok:
        raise Forbidden("the form has expired or did not come from this site; reload the page and try again")
    return data


def _model(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate({k: v for k, v in data.items() if v != ""})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise Invalid(f"check the form: {problems}") from exc


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# ---- login -----------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> Response:
    token = request.cookies.get("obruten_csrf") or secrets.token_urlsafe(16)
    request.cookies["obruten_csrf"] = token
    response = render(request, "login.html", next=next if next.startswith("/") else "/")
    response.set_cookie("obruten_csrf", token, httponly=True, samesite="lax")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    data = await _form(request, None)
    rt = runtime(request)
    async with rt.journal.pool.connection() as conn:
        session = await staff.authenticate(conn, data.get("username", ""), data.get("password", ""))
    if session is None:
        await rt.journal.audit.record(AuditEvent(actor=data.get("username", "")[:40], action="login_failed",
                                                 node=rt.config.node_name))
        return render(request, "login.html", 401, error=True, next=data.get("next", "/"))
    await rt.journal.audit.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="login",
                                             node=rt.config.node_name))
    target = data.get("next", "/")
    response = _back(target if target.startswith("/") and not target.startswith("//") else "/")
    response.set_cookie(SESSION_COOKIE, rt.signer.issue(session), httponly=True, samesite="lax",
                        max_age=rt.signer.lifetime)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await _session(request)
    await _form(request, session)
    response = _back("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
async def set_language(code: str, request: Request, back: str = "/") -> Response:
    response = _back(back if back.startswith("/") and not back.startswith("//") else "/")
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=3600 * 24 * 365, samesite="lax")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    session = await _session(request)
    if session.role == "admin":
        return _back("/admin/users")
    if session.units:
        return _back(f"/ward/{session.units[0]}")
    return _back("/units")


# ---- reading ------------------------------------------------------------------------------------------
@router.get("/units", response_class=HTMLResponse)
async def units_page(request: Request) -> Response:
    session = await _session(request)
    return render(request, "units.html", units=await runtime(request).journal.units(), session=session)


@router.get("/ward/{unit}", response_class=HTMLResponse)
async def ward_page(unit: str, request: Request) -> Response:
    import json

    session = await _session(request)
    rt = runtime(request)
    patients = json.loads(await rt.journal.ward_list_json(session, unit))
    all_units = {u["id"]: u for u in await rt.journal.units()}
    return render(request, "ward.html", unit=all_units.get(unit), patients=patients,
                  my_units=[all_units[u] for u in session.units if u in all_units])


@router.get("/search")
async def search(request: Request, personal_number: str = "") -> Response:
    session = await _session(request)
    patient = await runtime(request).journal.find_patient(session, personal_number)
    return _back(f"/patients/{patient}")


@router.get("/patients/{patient}", response_class=HTMLResponse)
async def patient_page(patient: int, request: Request) -> Response:
    session = await _session(request)
    data = await runtime(request).journal.overview(session, patient)
    return render(request, "patient.html", p=data, patient_id=patient)


@router.post("/patients/{patient}/emergency-access")
async def emergency_access(patient: int, request: Request) -> Response:
    session = await _session(request)
    data = await _form(request, session)
    await runtime(request).journal.grant_emergency(session, patient, data.get("reason", ""))
    return _back(f"/patients/{patient}")


@router.get("/history/{table}/{entry}", response_class=HTMLResponse)
async def history_page(table: str, entry: UUID, request: Request) -> Response:
    if table not in ENTRY_TABLES:
        raise NotFound(f"no entry type {table}")
    session = await _session(request)
    versions = await runtime(request).journal.history(session, table, entry)
    return render(request, "history.html", table=table, versions=versions)


@router.get("/medication/{order}", response_class=HTMLResponse)
async def medication_page(order: UUID, request: Request) -> Response:
    session = await _session(request)
    current, given = await runtime(request).journal.administrations(session, order)
    return render(request, "medication.html", order=current, given=given)


# ---- writing -------------------------------------------------------------------------------------------
@router.get("/patients/{patient}/{form}/new", response_class=HTMLResponse)
async def new_form(patient: int, form: str, request: Request) -> Response:
    if form not in ("note", "medication", "referral"):
        raise NotFound(f"no form {form}")
    session = await _session(request)
    data = await runtime(request).journal.overview(session, patient, purpose="vård")
    return render(request, f"form_{form}.html", p=data, patient_id=patient)


@router.post("/patients/{patient}/notes")
async def post_note(patient: int, request: Request) -> Response:
    session = await _session(request)
    new = _model(notes.NewNote, await _form(request, session))
    await runtime(request).journal.write_note(session, patient, new)
    return _back(f"/patients/{patient}")


@router.get("/notes/{entry}/correct", response_class=HTMLResponse)
async def correct_form(entry: UUID, request: Request) -> Response:
    session = await _session(request)
    versions = await runtime(request).journal.history(session, "note", entry)
    return render(request, "form_correct.html", note=versions[-1])


@router.post("/notes/{entry}/correct")
async def post_correction(entry: UUID, request: Request) -> Response:
    session = await _session(request)
    fix = _model(notes.NoteCorrection, await _form(request, session))
    row = await runtime(request).journal.correct_note(session, entry, fix)
    return _back(f"/history/note/{row['entry_id']}")


@router.post("/patients/{patient}/medication")
async def post_order(patient: int, request: Request) -> Response:
    session = await _session(request)
    data = await _form(request, session)
    data["times"] = [t.strip() for t in data.get("times", "").replace(";", ",").split(",") if t.strip()]
    data["as_needed"] = data.get("as_needed") == "on"
    await runtime(request).journal.order_medication(session, patient, _model(medication.NewOrder, data))
    return _back(f"/patients/{patient}")


@router.post("/medication/{order}/stop")
async def post_stop(order: UUID, request: Request) -> Response:
    session = await _session(request)
    row = await runtime(request).journal.stop_medication(
        session, order, _model(medication.StopOrder, await _form(request, session)))
    return _back(f"/patients/{row['patient_id']}")


@router.post("/medication/{order}/administrations")
async def post_administration(order: UUID, request: Request) -> Response:
    session = await _session(request)
    new = _model(medication.NewAdministration, await _form(request, session))
    await runtime(request).journal.administer(session, order, new)
    return _back(f"/medication/{order}")


@router.post("/patients/{patient}/referrals")
async def post_referral(patient: int, request: Request) -> Response:
    session = await _session(request)
    new = _model(referrals.NewReferral, await _form(request, session))
    await runtime(request).journal.create_referral(session, patient, new)
    return _back(f"/patients/{patient}")


@router.get("/referrals/{order_number}/result", response_class=HTMLResponse)
async def result_form(order_number: str, request: Request) -> Response:
    await _session(request)
    return render(request, "form_result.html", order_number=order_number)


@router.post("/referrals/{order_number}/result")
async def post_result(order_number: str, request: Request) -> Response:
    session = await _session(request)
    data = await _form(request, session)
    data["abnormal"] = data.get("abnormal") == "on"
    row = await runtime(request).journal.add_result(session, order_number, _model(referrals.NewResult, data))
    return _back(f"/patients/{row['patient_id']}")
