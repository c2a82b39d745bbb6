"""Screens for ADT: admit a patient to a ward (also unidentified, under a reserve number), and the
patient's movements with the transfer, discharge and merge forms. Problems re-render the same
form (HTTP 422) through ``record.forms``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.platform.auth import Session
from obruten.platform.errors import DomainError
from obruten.record import admission, forms
from obruten.record.deps import FormDep, JournalDep, LanguageDep, RenderDep, SessionDep
from obruten.record.service import Journal

router = APIRouter(include_in_schema=False)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


async def _units(journal: Journal) -> list[dict]:
    return await journal.units()


# ---- admit ---------------------------------------------------------------------------------------------
async def _admit_page(unit: str, session: Session, journal: Journal, render: RenderDep,
                      form: forms.Filled | None = None, status: int = 200) -> Response:
    units = {u["id"]: u for u in await _units(journal)}
    return render("admit.html", status, unit=units.get(unit), unit_id=unit, form=form, session=session)


@router.get("/ward/{unit}/admit", response_class=HTMLResponse)
async def admit_form(unit: str, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    return await _admit_page(unit, session, journal, render)


@router.post("/ward/{unit}/admissions")
async def post_admission(unit: str, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                         lang: LanguageDep) -> Response:
    fields: dict[str, object] = dict(data)
    fields["unit_id"] = unit
    fields["unidentified"] = data.get("who") == "unidentified"
    if fields["unidentified"]:
        fields.pop("personal_number", None)
    fields.pop("who", None)
    try:
        row = await journal.admit(session, forms.parse(admission.NewAdmission, fields, lang))
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _admit_page(unit, session, journal, render, forms.failed(exc, data, lang), status)
    return _back(f"/patients/{row['patient_id']}")


# ---- movements: transfer, discharge, merge --------------------------------------------------------
async def _movements_page(patient: int, session: Session, journal: Journal, render: RenderDep,
                          form: forms.Filled | None = None, which: str = "", status: int = 200) -> Response:
    events = await journal.adt_history(session, patient)
    pb = await journal.patient_banner(session, patient)
    unit_options = [(u["id"], f"{u['name']} · {u['hospital_name']}") for u in await _units(journal)
                    if u["id"] != pb.get("unit_id")]
    return render("movements.html", status, pb=pb, patient_id=patient, events=events, unit_options=unit_options,
                  form=form, which=which, session=session)


@router.get("/patients/{patient}/movements", response_class=HTMLResponse)
async def movements(patient: int, session: SessionDep, journal: JournalDep, render: RenderDep) -> Response:
    return await _movements_page(patient, session, journal, render)


async def _act(patient: int, which: str, session: Session, data: dict[str, str], journal: Journal,
               render: RenderDep, lang: str) -> Response:
    try:
        if which == "transfer":
            await journal.transfer(session, patient, forms.parse(admission.Transfer, data, lang))
        elif which == "discharge":
            await journal.discharge(session, patient, forms.parse(admission.Discharge, data, lang))
        else:
            done = await journal.merge(session, patient, forms.parse(admission.Merge, data, lang))
            return _back(f"/patients/{done['patient_id']}")
    except (forms.FormProblem, DomainError) as exc:
        status = forms.status_of(exc)
        return await _movements_page(patient, session, journal, render, forms.failed(exc, data, lang), which, status)
    return _back(f"/patients/{patient}")


@router.post("/patients/{patient}/transfer")
async def post_transfer(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                        lang: LanguageDep) -> Response:
    return await _act(patient, "transfer", session, data, journal, render, lang)


@router.post("/patients/{patient}/discharge")
async def post_discharge(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                         lang: LanguageDep) -> Response:
    return await _act(patient, "discharge", session, data, journal, render, lang)


@router.post("/patients/{patient}/merge")
async def post_merge(patient: int, session: SessionDep, data: FormDep, journal: JournalDep, render: RenderDep,
                     lang: LanguageDep) -> Response:
    return await _act(patient, "merge", session, data, journal, render, lang)
