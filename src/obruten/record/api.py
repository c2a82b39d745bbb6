"""JSON API under /api/v1. Thin: parse and validate, call the journal, shape the answer."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.auth import Session
from obruten.platform.errors import Unauthenticated
from obruten.platform.rows import one
from obruten.record import medication, notes, referrals, staff
from obruten.record.app import current_session, runtime
from obruten.record.audit import AuditEvent
from obruten.record.entries import ENTRY_TABLES

router = APIRouter(prefix="/api/v1", tags=["journal"])
SessionDep = Annotated[Session, Depends(current_session)]
PatientId = Annotated[int, Path(ge=1, le=2**62, description="Patient id")]
_EXAMPLE_PATIENT = 1


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class EmergencyAccessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=5, max_length=500)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "password_hash"}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return value


def _json(value: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_plain(value), status_code=status_code)


def _raw(body: str) -> Response:
    return Response(body, media_type="application/json")


@router.post("/login", summary="Log in; returns a bearer token")
async def login(body: LoginRequest, request: Request) -> JSONResponse:
    rt = runtime(request)
    async with rt.journal.pool.connection() as conn:
        session = await staff.authenticate(conn, body.username, body.password)
    if session is None:
        await rt.journal.audit.record(AuditEvent(actor=body.username[:40], action="login_failed", node=rt.config.node_name))
        raise Unauthenticated("wrong username or password")
    token = rt.signer.issue(session)
    await rt.journal.audit.record(AuditEvent(actor=session.username, actor_id=session.user_id, action="login",
                                             node=rt.config.node_name))
    return _json({"token": token, "expires_in": rt.signer.lifetime,
                  "user": {"username": session.username, "full_name": session.full_name, "role": session.role,
                           "units": list(session.units)}})


@router.get("/health", summary="Liveness and database reachability")
async def health(request: Request) -> JSONResponse:
    rt = runtime(request)
    try:
        async with rt.journal.pool.connection(timeout=2) as conn:
            cur = await conn.execute("SELECT pg_is_in_recovery()")
            (recovery,) = one(await cur.fetchone())
    except Exception as exc:  # report, never raise: this is what monitoring reads
        return JSONResponse({"status": "degraded", "database": f"unreachable: {type(exc).__name__}"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "read-only" if recovery else "read-write",
                         "node": rt.config.node_name})


@router.get("/units", summary="Care units with their number of admitted patients")
async def units(request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.units())


@router.get("/units/{unit}/patients", summary="Ward list: admitted patients, warnings, pending administrations")
async def ward_list(unit: Annotated[str, Path(max_length=40)], request: Request, session: SessionDep) -> Response:
    return _raw(await runtime(request).journal.ward_list_json(session, unit))


@router.get("/patients/{patient}", summary="Patient overview (audited read)")
async def patient_overview(patient: PatientId, request: Request, session: SessionDep,
                           purpose: Annotated[str, Query(max_length=100)] = "vård") -> Response:
    return _raw(await runtime(request).journal.overview_json(session, patient, purpose))


@router.post("/patients/{patient}/emergency-access", status_code=201, summary="Emergency access with a reason")
async def emergency_access(patient: PatientId, body: EmergencyAccessRequest, request: Request,
                           session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.grant_emergency(session, patient, body.reason), 201)


@router.post("/patients/{patient}/notes", status_code=201, summary="Write a signed note")
async def write_note(patient: PatientId, body: notes.NewNote, request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.write_note(session, patient, body), 201)


@router.post("/notes/{entry}/corrections", status_code=201, summary="Correct a note (new version)")
async def correct_note(entry: UUID, body: notes.NoteCorrection, request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.correct_note(session, entry, body), 201)


@router.post("/patients/{patient}/medication-orders", status_code=201, summary="Order a medication")
async def order_medication(patient: PatientId, body: medication.NewOrder, request: Request,
                           session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.order_medication(session, patient, body), 201)


@router.post("/medication-orders/{order}/stop", status_code=201, summary="Stop a medication (new version)")
async def stop_medication(order: UUID, body: medication.StopOrder, request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.stop_medication(session, order, body), 201)


@router.post("/medication-orders/{order}/administrations", status_code=201, summary="Record an administration")
async def administer(order: UUID, body: medication.NewAdministration, request: Request,
                     session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.administer(session, order, body), 201)


@router.post("/patients/{patient}/referrals", status_code=201, summary="Create a lab or radiology referral")
async def create_referral(patient: PatientId, body: referrals.NewReferral, request: Request,
                          session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.create_referral(session, patient, body), 201)


@router.post("/referrals/{order_number}/results", status_code=201, summary="Enter a result for a referral")
async def add_result(order_number: Annotated[str, Path(max_length=40)], body: referrals.NewResult, request: Request,
                     session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.add_result(session, order_number, body), 201)


@router.get("/entries/{table}/{entry}/history", summary="Every version of an entry, oldest first")
async def history(table: Annotated[str, Path(pattern="^(" + "|".join(ENTRY_TABLES) + ")$")], entry: UUID,
                  request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.history(session, table, entry))


@router.get("/patients/{patient}/access-log", summary="Who read this patient's record (admins)")
async def access_log(patient: PatientId, request: Request, session: SessionDep) -> JSONResponse:
    return _json(await runtime(request).journal.access_log(session, patient))
