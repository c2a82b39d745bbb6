"""The event analysis's own FastAPI dependency, beside the console's (``obruten.ops.http``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from obruten.ops.analysis.names import NameSource, name_sources
from obruten.ops.http import Ops


def analysis_name_sources(service: Ops) -> list[NameSource]:
    """The ops users, and the journal's staff and patients when the settings name ``journal_url``."""
    return name_sources(service.store, service.settings.journal_url)


NameSources = Annotated[list[NameSource], Depends(analysis_name_sources)]
