"""Admin screens: users, a patient's access log, emergency accesses, feature flags."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.platform.errors import Invalid
from obruten.platform.flags import REGION, state
from obruten.platform.i18n import local_time, translator
from obruten.record import flags
from obruten.record.deps import AdminDep, FormDep, JournalDep, LanguageDep, RenderDep, RuntimeDep

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/users", response_class=HTMLResponse)
async def users(admin: AdminDep, journal: JournalDep, render: RenderDep, rt: RuntimeDep, q: str = "") -> Response:
    rows = await journal.staff_listing(admin, q)
    throttled = [{"by": x.by, "key": x.key, "failures": x.failures,
                  "until_text": local_time(datetime.fromtimestamp(x.until, UTC), "%H:%M:%S")}
                 for x in await rt.guard.throttled()]  # accounts and addresses refused a login now
    return render("admin_users.html", users=rows, q=q, units=await journal.units(), throttled=throttled)


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


@router.get("/flags", response_class=HTMLResponse)
async def flag_page(admin: AdminDep, journal: JournalDep, render: RenderDep, lang: LanguageDep,
                    error: str = "") -> Response:
    """Every flag of this release: what it does, region-wide state, the units switched apart, history."""
    switches = await journal.flag_switches(admin)
    rows = [{"name": f.name, "release": f.release, "what": f.describe(lang), "on": state(switches, f.name),
             "units": sorted({(s.unit, state(switches, f.name, s.unit)) for s in switches
                              if s.flag == f.name and s.unit != REGION})} for f in flags.CATALOGUE]
    return render("admin_flags.html", 422 if error else 200, rows=rows, history=list(reversed(switches))[:50],
                  units=await journal.units(), error=error)


@router.post("/flags")
async def switch_flag(admin: AdminDep, data: FormDep, journal: JournalDep, render: RenderDep, rt: RuntimeDep,
                      lang: LanguageDep) -> Response:
    t = translator(lang)
    name, unit, reason = data.get("flag", ""), data.get("unit") or None, data.get("reason", "").strip()
    if len(reason) < 3:
        return await flag_page(admin, journal, render, lang, error=t("flags.need_reason"))
    if name not in flags.BY_NAME or (unit is not None and unit not in {u["id"] for u in await journal.units()}):
        return await flag_page(admin, journal, render, lang, error=t("flags.unknown"))
    try:
        await journal.switch_flag(admin, name, data.get("on") == "1", unit=unit, reason=reason,
                                  var_dir=rt.config.var_dir)
    except Invalid:
        return await flag_page(admin, journal, render, lang, error=t("flags.unknown"))
    return RedirectResponse("/admin/flags", status_code=303)
