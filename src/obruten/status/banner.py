"""The status banner: the same HTML in every UI (journal, read copy, ops console, ward kits).

``banner_view`` turns a document into what the template shows; ``render_banner`` gives the HTML
for UIs outside the journal app (ward kits, the ops console). Times are Europe/Stockholm.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from obruten.platform.i18n import local_time, translator
from obruten.status.document import StatusDocument, severity


@dataclass(frozen=True)
class BannerView:
    """What ``banner.html`` reads as ``status_message`` (``mode``, ``headline``, ``body`` are the
    journal's original banner contract)."""

    version: int
    mode: str  # the most severe mode that applies to the viewer
    region_mode: str
    headline: str
    body: str
    routine: str
    unit_modes: tuple[tuple[str, str], ...]
    affected_systems: tuple[str, ...]
    affected_units: tuple[str, ...]
    issuer: str
    issuer_role: str
    issued: str  # local time
    next_update: str  # local time or ""
    overdue: bool  # the next update was due and has not come: the message may be stale
    writes_blocked: bool
    unit: str = ""  # the care unit being viewed, whose mode ``mode`` is
    viewer_units: tuple[tuple[str, str], ...] = ()  # no unit viewed: each of the viewer's units and its mode
    normal_since: str = ""  # a return to normal operation: its local time (HH:MM)


def banner_view(doc: StatusDocument | None, units: tuple[str, ...] | list[str] | None = None, *,
                unit: str | None = None, now: datetime | None = None) -> BannerView | None:
    """None when there is nothing to show (no document; normal everywhere with no headline; a
    return to normal whose notice has run out). ``unit``: the care unit being viewed (a patient's
    unit, a ward): the banner gives that unit's mode. Otherwise ``units``: the viewer's care units,
    the most severe of theirs, each named (None: every unit's override)."""
    now = now or datetime.now(UTC)
    if unit is None and units and len(units) == 1:  # a viewer (or a ward PC) of one unit: that unit's banner
        unit = units[0]
    if doc is None or doc.quiet or not doc.shown_at(now):
        return None
    mode = doc.mode_for(unit) if unit else doc.worst_mode(units)
    viewer_units = tuple((u, doc.mode_for(u)) for u in units) if units and not unit else ()
    overrides = tuple(sorted((u, m) for u, m in doc.unit_modes.items() if severity(m) > 0 or m != doc.mode))
    due = doc.next_update()
    return BannerView(
        version=doc.version, mode=mode, region_mode=doc.mode, headline=doc.headline, body=doc.details,
        routine=doc.routine, unit_modes=overrides, affected_systems=doc.affected_systems,
        affected_units=doc.affected_units, issuer=doc.issuer_name, issuer_role=doc.issuer_role,
        issued=local_time(doc.issued()), next_update=local_time(due) if due is not None else "",
        overdue=due is not None and not doc.normal_everywhere and now > due,
        writes_blocked=mode == "reservrutin", unit=unit or "", viewer_units=viewer_units,
        normal_since=local_time(doc.issued(), "%H:%M") if doc.normal_everywhere else "")


def template_dir() -> Path:
    """Where ``banner.html`` lives: shipped with the status model itself, so no UI package is needed."""
    return Path(str(resources.files("obruten.status").joinpath("templates")))


@cache
def _env() -> Environment:
    return Environment(loader=FileSystemLoader(template_dir()), autoescape=select_autoescape(["html"]))


def render_banner(doc: StatusDocument | None, lang: str = "sv",
                  units: tuple[str, ...] | list[str] | None = None, *, unit: str | None = None,
                  now: datetime | None = None) -> str:
    """The banner's HTML for ``doc`` (empty when there is nothing to show). Pair it with the
    ``.banner`` rules of ``banner_css()``."""
    return render_view(banner_view(doc, units, unit=unit, now=now), lang)


def render_view(view: BannerView | None, lang: str = "sv") -> str:
    """``banner.html`` for a view (the status editor's preview renders a draft through this)."""
    if view is None:
        return ""
    return _env().get_template("banner.html").render(status_message=view, t=translator(lang))


def banner_css() -> str:
    """The ``.banner`` rules (``static/banner.css`` of the status model: one place for the banner's look)."""
    css = resources.files("obruten.status").joinpath("static", "banner.css").read_text(encoding="utf-8")
    return "\n".join(line for line in css.splitlines() if line.startswith(".banner"))
