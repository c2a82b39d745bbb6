"""One report request, as the API and the console both make it: which version, which format,
de-identified or not. Returns the bytes, their media type and a file name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from obruten.ops.analysis import report, report_markdown, report_pdf
from obruten.ops.analysis.analyses import log
from obruten.ops.analysis.model import AnalysisError, load
from obruten.ops.analysis.names import NameSource
from obruten.ops.store import Store

MEDIA = {"pdf": "application/pdf", "md": "text/markdown; charset=utf-8"}


def export(store: Store, analysis_id: int, fmt: str, *, who: str, now: datetime, version: int | None = None,
           lang: str = "sv", deidentified: bool = False,
           sources: Sequence[NameSource] = ()) -> tuple[bytes, str, str]:
    """The report; who fetched which version, in which form, is written to the change log (the
    report itself is not kept)."""
    if fmt not in MEDIA:
        raise AnalysisError(f"report format must be one of {', '.join(MEDIA)}")
    analysis = load(store, analysis_id, version)
    doc = report.prepare(store, analysis, lang, deidentified, sources)
    body = report_pdf.render(doc, lang) if fmt == "pdf" else report_markdown.render(doc).encode("utf-8")
    with store.tx() as db:
        log(db, analysis_id, analysis.version.number, who, now, "report exported",
            f"{fmt}{', de-identified' if deidentified else ''}, version {analysis.version.number}")
    name = f"handelseanalys-{analysis_id}-v{analysis.version.number}{'-avidentifierad' if deidentified else ''}.{fmt}"
    return body, MEDIA[fmt], name
