"""The event analysis report, in the shape of the national method's reports: header, summary,
numbered sequence of events (times in Europe/Stockholm) with their why-chains, the outcome, causes
by category, and actions. Built once as a list of blocks; ``report_markdown`` and ``report_pdf``
render the same blocks, so both formats always say the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from obruten.ops.analysis import categories
from obruten.ops.analysis.deidentify import Deidentifier, Removed, scrub, texts_of
from obruten.ops.analysis.model import Analysis, Event
from obruten.ops.analysis.names import NameSource, StaticNames
from obruten.ops.store import Store
from obruten.platform.i18n import local_time, translator


@dataclass(frozen=True)
class Heading:
    level: int
    text: str


@dataclass(frozen=True)
class Fields:
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Para:
    text: str


@dataclass(frozen=True)
class Note:
    text: str


@dataclass(frozen=True)
class Item:
    """One line of the sequence of events: an event (depth 0) or a step below it."""
    kind: str  # "event", "why", "because", "cause"
    depth: int
    label: str
    text: str


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


Block = Heading | Fields | Para | Note | Item | Table


@dataclass(frozen=True)
class Report:
    title: str
    footer: str
    blocks: tuple[Block, ...]
    removed: Removed | None


def when(event: Event, t: Callable[..., str]) -> str:
    if event.at is None:
        return t("analysis.report.no_time")
    text = local_time(event.at, "%Y-%m-%d %H:%M")
    if event.at_end is not None and event.at_end != event.at:
        same_day = local_time(event.at_end, "%Y-%m-%d") == local_time(event.at, "%Y-%m-%d")
        text += "–" + local_time(event.at_end, "%H:%M" if same_day else "%Y-%m-%d %H:%M")
    return text


def _ask(question: str, t: Callable[..., str]) -> str:
    lead = t("analysis.why")  # "Varför?"
    return question if question.lower().startswith(lead.rstrip("?").lower()) else f"{lead} {question}"


def _because(answer: str, t: Callable[..., str]) -> str:
    lead = t("analysis.because")
    return answer if answer.lower().startswith(lead.lower()) else f"{lead} {answer}"


def _stamp(value: datetime | None) -> str:
    return local_time(value, "%Y-%m-%d %H:%M") if value else ""


def build(analysis: Analysis, lang: str = "sv", order: Sequence[str] = (), removed: Removed | None = None) -> Report:
    """The report's blocks for one version. ``order`` lists the categories in report order."""
    t = translator(lang)
    v = analysis.version
    ep, cp, ap = t("analysis.report.event_prefix"), t("analysis.report.cause_prefix"), t("analysis.report.action_prefix")
    cause_no = {c.id: n for n, (_, c) in enumerate(analysis.causes(), start=1)}
    action_no = {a.id: n for n, (_, _, a) in enumerate(analysis.actions(), start=1)}
    state = (t("analysis.signed_by", at=_stamp(v.signed_at), who=v.signed_by) if v.signed
             else t("analysis.state.draft"))
    blocks: list[Block] = [Heading(1, f"{t('analysis.one')} {analysis.id}: {analysis.title}")]
    if not v.signed:
        blocks.append(Note(t("analysis.report.draft")))
    if removed is not None:
        blocks.append(Note(t("analysis.report.removed", pn=removed.personal_numbers, names=removed.names)))
    rows = [(t("analysis.incident"), str(analysis.incident_id)), (t("analysis.version"), f"{v.number} ({state})"),
            (t("analysis.commissioner"), v.commissioner), (t("analysis.leader"), v.leader),
            (t("analysis.team"), ", ".join(v.team)), (t("analysis.scope"), v.scope)]
    if v.reason:
        rows.append((t("analysis.reason"), v.reason))
    blocks += [Fields(tuple(rows)), Heading(2, t("analysis.summary")), Para(v.summary or "–"),
               Heading(2, t("analysis.events"))]
    for event in analysis.events:
        blocks.append(Item("event", 0, f"{ep}{event.number}", f"{when(event, t)} – {event.text}"))
        for depth, why in event.steps():
            blocks.append(Item("why", 1 + 2 * depth, "", _ask(why.question, t)))
            if why.answer:
                blocks.append(Item("because", 2 + 2 * depth, "", _because(why.answer, t)))
            for cause in why.causes:
                blocks.append(Item("cause", 2 + 2 * depth, f"{cp}{cause_no[cause.id]}",
                                   f"{t('analysis.cause')} ({cause.category}): {cause.text}"))
    blocks += [Heading(2, t("analysis.consequences")), Para(v.consequences or "–"),
               Heading(2, t("analysis.causes_by_category"))]
    by_category: dict[str, list[str]] = {}
    for event, cause in analysis.causes():
        measures = "; ".join(f"{ap}{action_no[a.id]}" for a in cause.actions)
        by_category.setdefault(cause.category, []).append(
            f"{cp}{cause_no[cause.id]} ({t('analysis.report.from_event')} {ep}{event.number}): {cause.text}"
            + (f" → {measures}" if measures else ""))
    if not by_category:
        blocks.append(Para(t("analysis.report.no_causes")))
    ranked = [c for c in order if c in by_category] + sorted(c for c in by_category if c not in order)
    for category in ranked:
        blocks.append(Heading(3, category))
        blocks += [Item("cause", 0, "", line) for line in by_category[category]]
    blocks.append(Heading(2, t("analysis.actions")))
    actions = [(f"{ap}{action_no[a.id]}", a.description, f"{cp}{cause_no[c.id]}", a.owner, a.deadline.isoformat(),
                t(f"analysis.strength.{a.strength}"), a.measure, t(f"analysis.status.{a.status}"))
               for _, c, a in analysis.actions()]
    if actions:
        blocks.append(Table((t("analysis.report.action_prefix"), t("analysis.action.description"), t("analysis.cause"),
                             t("analysis.action.owner_short"), t("analysis.action.deadline"),
                             t("analysis.action.strength"), t("analysis.action.measure"), t("analysis.action.status")),
                            tuple(actions)))
    else:
        blocks.append(Para(t("analysis.report.no_actions")))
    footer = f"{t('analysis.one')} {analysis.id} · {t('analysis.version')} {v.number} ({t('analysis.state.' + v.state)})"
    if removed is not None:
        footer += f" · {t('analysis.report.deidentified')}"
    return Report(f"{t('analysis.one')} {analysis.id}: {analysis.title}", footer, tuple(blocks), removed)


def prepare(store: Store, analysis: Analysis, lang: str = "sv", deidentified: bool = False,
            sources: Sequence[NameSource] = ()) -> Report:
    """The report for a loaded version; de-identified with ``sources`` (plus the header's own
    names) when asked. Raises ``NameSourceError`` if a source cannot answer."""
    order = categories.active(store)
    v = analysis.version
    user = store.one("SELECT full_name FROM ops_user WHERE username = ?", (v.commissioner,))
    if user is not None:
        analysis = replace(analysis, version=replace(v, commissioner=f"{user['full_name']} ({v.commissioner})"))
    if not deidentified:
        return build(analysis, lang, order)
    deid = Deidentifier([*sources, StaticNames([v.leader, *v.team, user["full_name"] if user else ""])])
    deid.learn(texts_of(analysis))
    clean = scrub(analysis, deid)
    return build(clean, lang, order, deid.removed)
