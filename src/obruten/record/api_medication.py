"""The medication part of the JSON API under /api/v1: structured orders, stopping, signing a
dose against its slot, and the läkemedelslista with its Utsatta section. A refused rule answers
409 (a confirmation with a reason is needed: ``confirm_reason`` / ``allergy_override_reason``)
or 422, in the one error shape and the reader's language."""

from __future__ import annotations

from collections.abc import Awaitable
from functools import partial
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from obruten.platform.fields import Id
from obruten.record import medication
from obruten.record.api import _json
from obruten.record.deps import FlagsDep, JournalDep, LanguageDep, SessionDep
from obruten.record.flags import STRUCTURED_ORDERS

router = APIRouter(prefix="/api/v1", tags=["journal"])
PatientId = Annotated[Id, Path(description="Patient id")]
T = TypeVar("T")
_RULES = {409: {"description": "A confirmation with a reason is needed (confirm_reason / allergy_override_reason)"},
          422: {"description": "The order or signing breaks a rule (fields named in problems)"}}


async def _ruled(call: Awaitable[T], lang: str) -> T:
    try:
        return await call
    except medication.RuleBroken as exc:
        raise exc.in_language(lang) from exc


@router.post("/patients/{patient}/medication-orders", status_code=201, responses=_RULES,  # type: ignore[arg-type]
             summary="Order a medication (structured; an allergy match needs allergy_override_reason)")
async def order_medication(patient: PatientId, body: medication.NewOrder, session: SessionDep, journal: JournalDep,
                           lang: LanguageDep, flags: FlagsDep) -> JSONResponse:
    structured = partial(flags.on, STRUCTURED_ORDERS)  # substance and form required where it is on
    return _json(await _ruled(journal.order_medication(session, patient, body, structured), lang), 201)


@router.post("/medication-orders/{order}/stop", status_code=201, responses=_RULES,  # type: ignore[arg-type]
             summary="Stop (sätta ut) a medication with a reason (a new version)")
async def stop_medication(order: UUID, body: medication.StopOrder, session: SessionDep, journal: JournalDep,
                          lang: LanguageDep) -> JSONResponse:
    return _json(await _ruled(journal.stop_medication(session, order, body), lang), 201)


@router.post("/medication-orders/{order}/administrations", status_code=201, responses=_RULES,  # type: ignore[arg-type]
             summary="Sign a dose against its slot (PRN: no slot); a repeat or a PRN dose over the maximum "
                     "needs confirm_reason")
async def administer(order: UUID, body: medication.SignDose, session: SessionDep, journal: JournalDep,
                     lang: LanguageDep) -> JSONResponse:
    return _json(await _ruled(journal.administer(session, order, body), lang), 201)


@router.get("/patients/{patient}/medication-list",
            summary="Läkemedelslista: current orders with today's dose slots, and Utsatta (stopped, last days)")
async def medication_list(patient: PatientId, session: SessionDep, journal: JournalDep) -> JSONResponse:
    found: dict[str, Any] = await journal.medication_list(session, patient)
    return _json(found)
