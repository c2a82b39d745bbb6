"""JSON API for ADT (admit, transfer, discharge, merge) and the patient banner, under /api/v1.

Kept apart from ``record.api`` so the ADT endpoints read as one block; the same thin shape:
validate, call the journal, answer. Every answer about a patient carries its ``patient`` block
(the banner: ``patients.banner``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from obruten.platform.fields import Id
from obruten.record import admission
from obruten.record.deps import JournalDep, SessionDep

router = APIRouter(prefix="/api/v1", tags=["adt"])
PatientId = Annotated[Id, Path(description="Patient id")]


def _json(value: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(value), status_code=status_code)


def _stay(row: dict) -> dict[str, Any]:
    keep = ("entry_id", "version", "unit_id", "admitted_at", "discharged_at", "cause")
    return {k: row[k] for k in keep if k in row}


@router.post("/admissions", status_code=201, summary="Admit a patient to a unit (a reserve number for an unidentified one)",
             responses={409: {"description": "Already admitted: transfer instead"}})
async def admit(body: admission.NewAdmission, session: SessionDep, journal: JournalDep) -> JSONResponse:
    row = await journal.admit(session, body)
    return _json({"admission": _stay(row), "patient": row["banner"]}, 201)


@router.post("/patients/{patient}/transfer", status_code=201, summary="Transfer an admitted patient to another unit",
             responses={409: {"description": "Not admitted"}})
async def transfer(patient: PatientId, body: admission.Transfer, session: SessionDep, journal: JournalDep) -> JSONResponse:
    row = await journal.transfer(session, patient, body)
    return _json({"admission": _stay(row), "patient": row["banner"]}, 201)


@router.post("/patients/{patient}/discharge", status_code=201, summary="Discharge an admitted patient",
             responses={409: {"description": "Not admitted"}})
async def discharge(patient: PatientId, body: admission.Discharge, session: SessionDep, journal: JournalDep) -> JSONResponse:
    row = await journal.discharge(session, patient, body)
    return _json({"admission": _stay(row), "patient": await journal.patient_banner(session, patient)}, 201)


@router.post("/patients/{patient}/merge", status_code=201,
             summary="Merge a reserve number into the patient's real identity (every entry moves)",
             responses={409: {"description": "Already merged, or both identities admitted"}})
async def merge(patient: PatientId, body: admission.Merge, session: SessionDep, journal: JournalDep) -> JSONResponse:
    done = await journal.merge(session, patient, body)
    return _json({**done, "patient": await journal.patient_banner(session, done["patient_id"])}, 201)


@router.get("/patients/{patient}/movements", summary="Admissions, transfers, discharges and merges, newest first")
async def movements(patient: PatientId, session: SessionDep, journal: JournalDep) -> JSONResponse:
    events = await journal.adt_history(session, patient)
    return _json({"patient": await journal.patient_banner(session, patient), "movements": events})


@router.get("/patients/{patient}/banner", summary="The patient banner: name, number, age, sex, unit, warnings")
async def banner(patient: PatientId, session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json({"patient": await journal.patient_banner(session, patient)})


@router.get("/patients/{patient}/identity",
            summary="Who an emergency access would open (name, number, unit), without the record")
async def identity(patient: PatientId, session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json({"patient": await journal.emergency_identity(session, patient)})
