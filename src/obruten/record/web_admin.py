"""Admin screens: users, a patient's access log, emergency accesses."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.platform.errors import Forbidden
from obruten.record.app import render, runtime
from obruten.record.web import _form, _session

router = APIRouter(prefix="/admin", include_in_schema=False)


async def _admin(request: Request):  # type: ignore[no-untyped-def]
    session = await _session(request)
    if session.role != "admin":
        raise Forbidden("this screen is for admins")
    return session


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, q: str = "") -> Response:
    session = await _admin(request)
    rt = runtime(request)
    rows = await rt.journal.staff_listing(session, q)
    return render(request, "admin_users.html", users=rows, q=q, units=await rt.journal.units())


@router.post("/users")
async def create_user(request: Request) -> Response:
    session = await _admin(request)
    data = await _form(request, session)
    await runtime(request).journal.create_user(
        session, data.get("username", ""), data.get("full_name", ""), data.get("role", ""),
        data.get("password") or None, [u.strip() for u in data.get("units", "").split(",") if u.strip()])
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/active")
async def set_active(user_id: int, request: Request) -> Response:
    session = await _admin(request)
    data = await _form(request, session)
    await runtime(request).journal.set_user_active(session, user_id, data.get("active") == "1")
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/access-log", response_class=HTMLResponse)
async def access_log(request: Request, personal_number: str = "") -> Response:
    session = await _admin(request)
    rows: list[dict] = []
    patient_id = None
    if personal_number:
        patient_id = await runtime(request).journal.find_patient(session, personal_number)
        rows = await runtime(request).journal.access_log(session, patient_id)
    return render(request, "admin_access_log.html", rows=rows, personal_number=personal_number,
                  patient_id=patient_id)


@router.get("/emergency-access", response_class=HTMLResponse)
async def emergency(request: Request) -> Response:
    session = await _admin(request)
    return render(request, "admin_emergency.html", rows=await runtime(request).journal.emergency_accesses(session))
