"""Event analysis (händelseanalys) of a resolved incident: the event sequence from its timeline,
why-chains down to causes by category, actions with owner, deadline and strength, sign-off by the
commissioner with versioned amendments, and a report (PDF, Markdown), de-identified on request.

It lives in the ops store (its own tables, ``schema``) and is served by the ops app:
``routes(service)`` gives the JSON API under ``/api/v1/analyses`` and the console pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import APIRouter

    from obruten.ops.analysis.names import NameSource
    from obruten.ops.service import OpsService


def name_sources(service: OpsService) -> list[NameSource]:
    """Where names come from for de-identification: the ops users, and the journal's staff and
    patients when the ops settings name a journal database (``journal_url``)."""
    from obruten.ops.analysis.names import JournalNames, OpsUserNames

    sources: list[NameSource] = [OpsUserNames(service.store)]
    if service.settings.journal_url:
        sources.append(JournalNames(service.settings.journal_url))
    return sources


def routes(service: OpsService, sources: Callable[[OpsService], list[NameSource]] | None = None) -> APIRouter:
    """The API and console routes; creates the analysis tables on first use. ``sources`` replaces
    the name sources used for de-identified reports (default ``name_sources``)."""
    from fastapi import APIRouter

    from obruten.ops.analysis import api, schema, web

    schema.ensure(service.store)
    router = APIRouter()
    pick = sources or name_sources
    router.include_router(api.router(service, pick))
    router.include_router(web.router(service, pick))
    return router
