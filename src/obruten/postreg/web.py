"""HTTP for post-registration: the ward agents' API and the review screen.

API (the unit's ward-agent token, ``Authorization: Bearer …``, see ``agents``):
  POST /api/v1/postreg/batches  queue a batch for review; 201 lists every acknowledged key
  POST /api/v1/postreg/states   how submitted keys were decided
Screens (staff session): GET /postreg/{unit}, POST /postreg/{unit}/entries/{id}/confirm|reject.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from obruten.platform.errors import NotFound
from obruten.postreg import agents
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


@pages.get("/postreg/{unit}", response_class=HTMLResponse)
async def review_page(unit: str, request: Request, session: SessionDep, journal: JournalDep, service: ServiceDep,
                      render: RenderDep) -> Response:
    units = {u["id"]: u for u in await journal.units()}
    if unit not in units:
        raise NotFound(f"no care unit {unit!r}")
    patient = request.query_params.get("patient", "")
    review = await service.review(session, unit, int(patient) if patient.isdigit() else None)
    return render("postreg_review.html", unit=units[unit], review=review, pending=review.pending,
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
