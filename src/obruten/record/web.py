"""Server-rendered screens for clinical staff: login, ward list, patient overview and the forms."""

from __future__ import annotations

import json
import secrets
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from obruten.platform.auth import Session
from obruten.platform.cookies import cookie_flags
from obruten.platform.errors import DomainError, Invalid, NotFound, Unauthenticated
from obruten.platform.i18n import LANGUAGES
from obruten.record import forms, history_view, notes, referrals
from obruten.record.deps import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    FormDep,
    JournalDep,
    LanguageDep,
    LoginFormDep,
    RenderDep,
    Renderer,
    RuntimeDep,
    SessionDep,
    client_address,
)
from obruten.record.entries import ENTRY_TABLES
from obruten.record.login import log_in, log_out
from obruten.record.login_guard import Throttled
from obruten.record.service import Journal

router = APIRouter(include_in_schema=False)


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
async def login_page(request: Request, render: RenderDep, next: str = "/") -> Response:
    token = request.cookies.get(CSRF_COOKIE, "")
    if not (token.isascii() and 16 <= len(token) <= 64):
        token = secrets.token_urlsafe(16)
    request.cookies[CSRF_COOKIE] = token
    response = render("login.html", next=next if next.startswith("/") else "/")
    response.set_cookie(CSRF_COOKIE, token, **cookie_flags(request))
    return response


@router.post("/login")
async def login(request: Request, data: LoginFormDep, rt: RuntimeDep, journal: JournalDep, render: RenderDep,
                lang: LanguageDep) -> Response:
    try:
        done = await log_in(journal, rt.signer, rt.config.node_name, data.get("username", ""),
                            data.get("password", ""), guard=rt.guard, client=client_address(request), lang=lang)
    except Throttled as refused:
        page = render("login.html", 429, throttled=refused.message, next=data.get("next", "/"))
        page.headers.update(refused.headers)
        return page
    except Unauthenticated:
        return render("login.html", 401, error=True, next=data.get("next", "/"))
    target = data.get("next", "/")
    response = _back(target if target.startswith("/") and not target.startswith("//") else "/")
    response.set_cookie(SESSION_COOKIE, done.token, max_age=done.expires_in, **cookie_flags(request))
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, data: FormDep, rt: RuntimeDep, journal: JournalDep) -> Response:
    await log_out(journal, rt.revocations, session, rt.config.node_name)
    response = _back("/login")
    response.delete_cookie(SESSION_COOKIE, **cookie_flags(request))
    return response


@router.get("/lang/{code}")
async def set_language(code: str, back: str = "/") -> Response:
    response = _back(back if back.startswith("/") and not back.startswith("//") else "/")
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=3600 * 24 * 365, samesite="lax")
    return response


@router.get("/")
async def home(session: SessionDep) -> Response:
    if session.role == "admin":
        return _back("/admin/users")
    if session.units:
        return _back(f"/ward/{session.units[0]}")
    return _back("/units")


# ---- reading ------------------------------------------------------------------------------------------
@router.get("/units", response_class=HTMLResponse)
async def units_page(session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    return render("units.html", units=await journal.units(), session=session)


@router.get("/ward/{unit}", response_class=HTMLResponse)
async def ward_page(unit: str, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    patients = json.loads(await journal.ward_list_json(session, unit))
    all_units = {u["id"]: u for u in await journal.units()}
    return render("ward.html", unit=all_units.get(unit), patients=patients,
                  my_units=[all_units[u] for u in session.units if u in all_units])


@router.get("/search")
async def search(session: SessionDep, journal: JournalDep, personal_number: str = "") -> Response:
    patient = await journal.find_patient(session, personal_number)
    return _back(f"/patients/{patient}")


@router.get("/patients/{patient}", response_class=HTMLResponse)
async def patient_page(patient: int, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    merged_into = await journal.resolve_patient(patient)
    if merged_into != patient:  # a merged reserve number opens the patient it was merged into
        return _back(f"/patients/{merged_into}")
    data = await journal.overview(session, patient)
    meds = await journal.medication_list(session, patient)  # läkemedelslista + today's dose slots
    return render("patient.html", p=data, pb=data["patient"], patient_id=patient, meds=meds)


@router.post("/patients/{patient}/emergency-access")
async def emergency_access(patient: int, session: SessionDep, data: FormDep, journal: JournalDep) -> Response:
    await journal.grant_emergency(session, patient, data.get("reason", ""))
    return _back(f"/patients/{patient}")


@router.get("/history/{table}/{entry}", response_class=HTMLResponse)
async def history_page(table: str, entry: UUID, session: SessionDep, journal: JournalDep,
                       render: RenderDep) -> Response:
    if table not in ENTRY_TABLES:
        raise NotFound(f"no entry type {table}")
    versions = await journal.history(session, table, entry)
    pb = await journal.patient_banner(session, versions[0]["patient_id"])
    return render("history.html", table=table, versions=history_view.versions(versions, table), pb=pb)


# the medication pages and forms: record.web_medication


# ---- writing -------------------------------------------------------------------------------------------
@router.get("/patients/{patient}/{form}/new", response_class=HTMLResponse)
async def new_form(patient: int, form: str, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    if form not in ("note", "referral"):  # medication: record.web_medication
        raise NotFound(f"no form {form}")
    return await _patient_form(form, patient, session, journal, render)


# ---- journal forms: a problem re-renders the same form (422) with the typed values (record.forms) ----
async def _patient_form(form: str, patient: int, session: Session, journal: Journal, render: Renderer,
                        filled: forms.Filled | None = None, status: int = 200) -> Response:
    data = await journal.overview(session, patient, purpose="vård")
    return render(f"form_{form}.html", status, p=data, pb=data["patient"], patient_id=patient, form=filled,
                  kinds=notes.kinds_for(session.role), session=session)


@router.post("/patients/{patient}/notes")
async def post_note(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                    lang: LanguageDep) -> Response:
    try:
        await journal.write_note(session, patient, forms.parse(notes.NewNote, data, lang))
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _patient_form("note", patient, session, journal, render, forms.failed(exc, data, lang), status)
    return _back(f"/patients/{patient}")


async def _correct_page(entry: UUID, session: Session, journal: Journal, render: Renderer,
                        filled: forms.Filled | None = None, status: int = 200) -> Response:
    versions = await journal.history(session, "note", entry)
    pb = await journal.patient_banner(session, versions[0]["patient_id"])
    author = versions[0]
    return render("form_correct.html", status, note=versions[-1], pb=pb, form=filled, session=session,
                  author_name=author["signed_by_name"], is_author=author["signed_by"] == session.user_id)


@router.get("/notes/{entry}/correct", response_class=HTMLResponse)
async def correct_form(entry: UUID, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    return await _correct_page(entry, session, journal, render)


@router.post("/notes/{entry}/correct")
async def post_correction(entry: UUID, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                          lang: LanguageDep) -> Response:
    try:
        row = await journal.correct_note(session, entry, forms.parse(notes.NoteCorrection, data, lang))
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _correct_page(entry, session, journal, render, forms.failed(exc, data, lang), status)
    return _back(f"/history/note/{row['entry_id']}")


@router.post("/patients/{patient}/referrals")
async def post_referral(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                        lang: LanguageDep) -> Response:
    try:
        await journal.create_referral(session, patient, forms.parse(referrals.NewReferral, data, lang))
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _patient_form("referral", patient, session, journal, render, forms.failed(exc, data, lang), status)
    return _back(f"/patients/{patient}")


async def _result_page(order_number: str, session: Session, journal: Journal, render: Renderer,
                       filled: forms.Filled | None = None, status: int = 200) -> Response:
    pb = await journal.referral_banner(session, order_number)
    return render("form_result.html", status, order_number=order_number, pb=pb, form=filled, session=session)


@router.get("/referrals/{order_number}/result", response_class=HTMLResponse)
async def result_form(order_number: str, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    return await _result_page(order_number, session, journal, render)


@router.post("/referrals/{order_number}/result")
async def post_result(order_number: str, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                      lang: LanguageDep) -> Response:
    fields: dict[str, Any] = dict(data)
    fields["abnormal"] = data.get("abnormal") == "on"
    try:
        row = await journal.add_result(session, order_number, forms.parse(referrals.NewResult, fields, lang))
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _result_page(order_number, session, journal, render, forms.failed(exc, data, lang), status)
    return _back(f"/patients/{row['patient_id']}")
