"""Admin screens: users, a patient's access log, emergency accesses."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.record.deps import AdminDep, FormDep, JournalDep, RenderDep

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
async def users(admin: AdminDep, journal: JournalDep, render: RenderDep, q: str = "") -> Response:
    rows = await journal.staff_listing(admin, q)
    return render("admin_users.html", users=rows, q=q, units=await journal.units())


@router.post("/users")
async def create_user(admin: AdminDep, data: FormDep, journal: JournalDep) -> Response:
    await journal.create_user(admin, data.get("username", ""), data.get("full_name", ""), data.get("role", ""),
                              data.get("password") or None,
                              [u.strip() for u in data.get("units", "").split(",") if u.strip()])
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{user_id}/active")
async def set_active(user_id: int, admin: AdminDep, data: FormDep, journal: JournalDep) -> Response:
    await journal.set_user_active(admin, user_id, data.get("active") == "1")
    return RedirectResponse("/admin/users", status_code=303)


@router.get("/access-log", response_class=HTMLResponse)
async def access_log(admin: AdminDep, journal: JournalDep, render: RenderDep, personal_number: str = "") -> Response:
    rows: list[dict] = []
    patient_id = None
    if personal_number:
        patient_id = await journal.find_patient(admin, personal_number)
        rows = await journal.access_log(admin, patient_id)
    return render("admin_access_log.html", rows=rows, personal_number=personal_number, patient_id=patient_id)


@router.get("/emergency-access", response_class=HTMLResponse)
async def emergency(admin: AdminDep, journal: JournalDep, render: RenderDep) -> Response:
    return render("admin_emergency.html", rows=await journal.emergency_accesses(admin))
