"""HTTP for post-registration: the ward agents' API and the review screen.

API (the unit's ward-agent token, ``Authorization: Bearer …``, see ``agents``):
  POST /api/v1/postreg/batches  queue a batch for review; 201 lists every acknowledged key
  POST /api/v1/postreg/states   how submitted keys were decided
  GET  /api/v1/postreg/verifier?unit_id=&device_id=  the unit's signed staff verifier (ADR 0049)
  POST /api/v1/postreg/reserve-blocks     a new block of reservnummer for this agent
  POST /api/v1/postreg/reserve-patients   patients registered under a reservnummer → journal ids
Screens (staff session): GET /postreg/{unit}, POST /postreg/{unit}/entries/{id}/confirm|reject,
POST /postreg/{unit}/reserve/{patient}/link (merge a reservnummer into the real identity).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from obruten.platform.errors import NotFound
from obruten.platform.fields import Line
from obruten.postreg import agents
from obruten.postreg.downtime_identity import ReservePatients
from obruten.postreg.models import Batch, KeysQuery
from obruten.postreg.service import PostRegistration
from obruten.record.deps import FormDep, JournalDep, RenderDep, RuntimeDep, SessionDep

api = APIRouter(prefix="/api/v1/postreg", tags=["post-registration"])
pages = APIRouter(include_in_schema=False)


def get_service(rt: RuntimeDep, journal: JournalDep) -> PostRegistration:
    return PostRegistration(journal, var_dir=rt.config.var_dir)


ServiceDep = Annotated[PostRegistration, Depends(get_service)]


def _agent(rt: RuntimeDep, request: Request, unit_id: str, device_id: str) -> agents.AgentIdentity:
    return agents.identify(rt.config.var_dir, request.headers.get("authorization", ""), unit_id, device_id)


@api.post("/batches", status_code=201, summary="Queue downtime documentation for review (ward agents)")
async def submit_batch(body: Batch, request: Request, rt: RuntimeDep, service: ServiceDep) -> JSONResponse:
    receipt = await service.receive(_agent(rt, request, body.unit_id, body.device_id), body)
    return JSONResponse(receipt.as_json(), status_code=201)


@api.post("/states", summary="How submitted entries were decided (ward agents)")
async def entry_states(body: KeysQuery, request: Request, rt: RuntimeDep, service: ServiceDep) -> JSONResponse:
    return JSONResponse({"states": await service.states(_agent(rt, request, body.unit_id, body.device_id), body.keys)})


@api.get("/verifier", summary="The unit's signed staff verifier, for offline identification (ward agents)")
async def staff_verifier(unit_id: Line, device_id: Line, request: Request, rt: RuntimeDep,
                         service: ServiceDep) -> JSONResponse:
    document = await service.verifier(_agent(rt, request, unit_id, device_id))
    return JSONResponse(document, headers={"Cache-Control": "no-store"})


class AgentRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit_id: Line = Field(min_length=1, max_length=40)
    device_id: Line = Field(min_length=1, max_length=100)


@api.post("/reserve-blocks", status_code=201, summary="A new block of reservnummer for this agent (ward agents)")
async def reserve_block(body: AgentRef, request: Request, rt: RuntimeDep, service: ServiceDep) -> JSONResponse:
    return JSONResponse(await service.reserve_block(_agent(rt, request, body.unit_id, body.device_id)),
                        status_code=201)


@api.post("/reserve-patients", summary="Patients registered under a reservnummer on the agent (ward agents)")
async def reserve_patients(body: ReservePatients, request: Request, rt: RuntimeDep, service: ServiceDep) -> JSONResponse:
    ids = await service.reserve_patients(_agent(rt, request, body.unit_id, body.device_id), body.patients)
    return JSONResponse({"patients": ids})


@pages.post("/postreg/{unit}/reserve/{patient}/link")
async def link_reserve(unit: str, patient: int, session: SessionDep, data: FormDep, service: ServiceDep) -> Response:
    await service.link_reserve(session, unit, patient, data.get("personal_number", ""))
    return RedirectResponse(f"/postreg/{unit}?done=linked", status_code=303)


@pages.get("/postreg/{unit}", response_class=HTMLResponse)
async def review_page(unit: str, request: Request, session: SessionDep, journal: JournalDep, service: ServiceDep,
                      render: RenderDep) -> Response:
    units = {u["id"]: u for u in await journal.units()}
    if unit not in units:
        raise NotFound(f"no care unit {unit!r}")
    patient = request.query_params.get("patient", "")
    review = await service.review(session, unit, int(patient) if patient.isdigit() else None)
    return render("postreg_review.html", unit=units[unit], review=review, pending=review.pending,
                  reserve=await service.reserve_list(session, unit),
                  decided=review.decided, patient=patient, done=request.query_params.get("done"))


@pages.post("/postreg/{unit}/entries/{entry}/confirm")
async def confirm(unit: str, entry: int, session: SessionDep, data: FormDep, service: ServiceDep) -> Response:
    await service.confirm(session, entry, duplicates_checked=data.get("duplicates_checked") == "on")
    return RedirectResponse(_back(unit, data, "confirmed"), status_code=303)


@pages.post("/postreg/{unit}/entries/{entry}/reject")
async def reject(unit: str, entry: int, session: SessionDep, data: FormDep, service: ServiceDep) -> Response:
    await service.reject(session, entry, data.get("reason", ""))
    return RedirectResponse(_back(unit, data, "rejected"), status_code=303)


def _back(unit: str, data: dict[str, str], done: str) -> str:
    patient = data.get("patient", "")
    return f"/postreg/{unit}?done={done}" + (f"&patient={patient}" if patient.isdigit() else "")
