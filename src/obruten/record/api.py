"""JSON API under /api/v1. Thin: parse and validate, call the journal, shape the answer."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.fields import Id, Line, Text
from obruten.platform.rows import one
from obruten.record import notes, referrals
from obruten.record.deps import JournalDep, LanguageDep, RuntimeDep, SessionDep, client_address
from obruten.record.entries import ENTRY_TABLES
from obruten.record.login import log_in, log_out

router = APIRouter(prefix="/api/v1", tags=["journal"])
PatientId = Annotated[Id, Path(description="Patient id")]
_EXAMPLE_PATIENT = 1


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Line = Field(min_length=1, max_length=40)
    password: Line = Field(min_length=1, max_length=200)


class EmergencyAccessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Text = Field(min_length=5, max_length=500)


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


@router.post("/login", summary="Log in; returns a bearer token",
             responses={401: {"description": "Wrong username or password"},
                        429: {"description": "Too many failed logins: refused until Retry-After (seconds)"}})
async def login(body: LoginRequest, request: Request, rt: RuntimeDep, journal: JournalDep,
                lang: LanguageDep) -> JSONResponse:
    done = await log_in(journal, rt.signer, rt.config.node_name, body.username, body.password, guard=rt.guard,
                        client=client_address(request), lang=lang)
    session = done.session
    return _json({"token": done.token, "expires_in": done.expires_in,
                  "user": {"username": session.username, "full_name": session.full_name, "role": session.role,
                           "units": list(session.units)}})


@router.post("/logout", status_code=200, summary="Log out: the token stops working on every node",
             responses={401: {"description": "Not logged in (or already logged out)"}})
async def logout(session: SessionDep, rt: RuntimeDep, journal: JournalDep) -> JSONResponse:
    everywhere = await log_out(journal, rt.revocations, session, rt.config.node_name)
    return _json({"logged_out": True, "everywhere": everywhere})


@router.get("/health", summary="Liveness and database reachability")
async def health(rt: RuntimeDep, journal: JournalDep) -> JSONResponse:
    try:
        async with journal.pool.connection(timeout=2) as conn:
            cur = await conn.execute("SELECT pg_is_in_recovery()")
            (recovery,) = one(await cur.fetchone())
    except Exception as exc:  # report, never raise: this is what monitoring reads
        return JSONResponse({"status": "degraded", "database": f"unreachable: {type(exc).__name__}"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "read-only" if recovery else "read-write",
                         "node": rt.config.node_name})


@router.get("/units", summary="Care units with their number of admitted patients")
async def units(session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json(await journal.units())


@router.get("/units/{unit}/patients", summary="Ward list: admitted patients, warnings, pending administrations")
async def ward_list(unit: Annotated[Line, Path(max_length=40)], session: SessionDep, journal: JournalDep) -> Response:
    return _raw(await journal.ward_list_json(session, unit))


@router.get("/patients/{patient}", summary="Patient overview (audited read)")
async def patient_overview(patient: PatientId, session: SessionDep, journal: JournalDep,
                           purpose: Annotated[Line, Query(max_length=100)] = "vård") -> Response:
    return _raw(await journal.overview_json(session, patient, purpose))


@router.post("/patients/{patient}/emergency-access", status_code=201, summary="Emergency access with a reason")
async def emergency_access(patient: PatientId, body: EmergencyAccessRequest, session: SessionDep,
                           journal: JournalDep) -> JSONResponse:
    return _json(await journal.grant_emergency(session, patient, body.reason), 201)


@router.post("/patients/{patient}/notes", status_code=201, summary="Write a signed note")
async def write_note(patient: PatientId, body: notes.NewNote, session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json(await journal.write_note(session, patient, body), 201)


@router.post("/notes/{entry}/corrections", status_code=201, summary="Correct a note (new version)")
async def correct_note(entry: UUID, body: notes.NoteCorrection, session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json(await journal.correct_note(session, entry, body), 201)


# medication orders, administrations and the list: record.api_medication


@router.post("/patients/{patient}/referrals", status_code=201, summary="Create a lab or radiology referral")
async def create_referral(patient: PatientId, body: referrals.NewReferral, session: SessionDep,
                          journal: JournalDep) -> JSONResponse:
    return _json(await journal.create_referral(session, patient, body), 201)


@router.post("/referrals/{order_number}/results", status_code=201, summary="Enter a result for a referral")
async def add_result(order_number: Annotated[Line, Path(max_length=40)], body: referrals.NewResult, session: SessionDep,
                     journal: JournalDep) -> JSONResponse:
    return _json(await journal.add_result(session, order_number, body), 201)


@router.get("/entries/{table}/{entry}/history", summary="Every version of an entry, oldest first")
async def history(table: Annotated[str, Path(pattern="^(" + "|".join(ENTRY_TABLES) + ")$")], entry: UUID,
                  session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json(await journal.history(session, table, entry))


@router.get("/patients/{patient}/access-log", summary="Who read this patient's record (admins)")
async def access_log(patient: PatientId, session: SessionDep, journal: JournalDep) -> JSONResponse:
    return _json(await journal.access_log(session, patient))
