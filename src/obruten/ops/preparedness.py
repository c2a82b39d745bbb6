"""Preparedness level (beredskapsläge) and proposals to raise it.

An outage of the journal proposes at least stabsläge to the officer on duty: the proposal is an
alarm on the TIB chain, so it is delivered, escalated and repeated like any alarm until someone
answers it. Every change of level records who decided, when and why; standing down is its own
decision, separate from an incident's technical "resolved".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from obruten.ops import alarms, timeline
from obruten.ops.clock import iso, parse
from obruten.ops.store import Store
from obruten.platform.errors import ObrutenError

LEVELS = ("normalläge", "stabsläge", "förstärkningsläge", "katastrofläge")
PROPOSAL_RULE = "preparedness-proposal"
WITHDRAWN = "återkallat: larmet bakom förslaget är löst"
_STATE_SV = {"accepted": "godtaget", "declined": "avböjt"}


class PreparednessError(ObrutenError, ValueError):
    pass


@dataclass(frozen=True)
class Level:
    level: str
    at: datetime | None
    decided_by: str | None
    reason: str | None

    @property
    def rank(self) -> int:
        return LEVELS.index(self.level)


def current(store: Store) -> Level:
    row = store.one("SELECT level, at, decided_by, reason FROM preparedness_change ORDER BY id DESC LIMIT 1")
    if row is None:
        return Level("normalläge", None, None, None)
    return Level(row["level"], parse(row["at"]), row["decided_by"], row["reason"])


def history(store: Store) -> list[dict[str, object]]:
    return [dict(r) for r in store.all("SELECT * FROM preparedness_change ORDER BY id DESC")]


def open_proposals(store: Store) -> list[dict[str, object]]:
    return [dict(r) for r in store.all("SELECT * FROM preparedness_proposal WHERE state = 'proposed' ORDER BY id")]


def propose(store: Store, var_dir: Path | None, level: str, *, incident_id: int | None, reason: str, now: datetime,
            chain: str = "tib") -> int | None:
    """Propose ``level`` to the officer on duty, unless the level already is that high or a
    proposal is already waiting. Returns the proposal id, or None."""
    if level not in LEVELS:
        raise PreparednessError(f"unknown preparedness level {level!r}")
    if current(store).rank >= LEVELS.index(level):
        return None
    waiting = [p for p in open_proposals(store) if LEVELS.index(str(p["level"])) >= LEVELS.index(level)]
    if waiting:
        return None
    summary = f"Förslag till TIB: höj beredskapsläget till {level}. {reason}"
    alarm, _ = alarms.fire(store, var_dir, rule=PROPOSAL_RULE, key=f"preparedness:{level}:{incident_id}",
                           severity="critical", summary=summary, chain=chain, now=now)
    if incident_id is not None:
        alarms.link_incident(store, alarm.id, incident_id)
    proposal_id = store.execute("INSERT INTO preparedness_proposal (level, incident_id, alarm_id, proposed_at) "
                                "VALUES (?, ?, ?, ?)", (level, incident_id, alarm.id, iso(now)))
    timeline.record(store, var_dir, "preparedness.proposed", summary, now, incident_id, level=level)
    return proposal_id


def decide(store: Store, var_dir: Path | None, level: str, *, who: str, reason: str, now: datetime,
           incident_id: int | None = None) -> str:
    """Set the preparedness level (raise or stand down). Returns a sentence."""
    if level not in LEVELS:
        raise PreparednessError(f"unknown preparedness level {level!r}; one of {', '.join(LEVELS)}")
    if not reason.strip():
        raise PreparednessError("a change of preparedness level needs a reason")
    before = current(store)
    store.execute("INSERT INTO preparedness_change (level, at, decided_by, reason, incident_id) VALUES (?, ?, ?, ?, ?)",
                  (level, iso(now), who, reason.strip(), incident_id))
    verb = "höjt" if LEVELS.index(level) > before.rank else "sänkt" if LEVELS.index(level) < before.rank else "bekräftat"
    sentence = f"Beredskapsläge {verb}: {before.level} → {level}, beslut av {who}: {reason.strip()}"
    timeline.record(store, var_dir, "preparedness.changed", sentence, now, incident_id, level=level, who=who)
    for proposal in open_proposals(store):
        if LEVELS.index(str(proposal["level"])) <= LEVELS.index(level):
            _close(store, var_dir, proposal, "accepted", who, f"beslutat {level}", now)
    return sentence


def decline(store: Store, var_dir: Path | None, proposal_id: int, *, who: str, reason: str, now: datetime) -> None:
    row = store.one("SELECT * FROM preparedness_proposal WHERE id = ? AND state = 'proposed'", (proposal_id,))
    if row is None:
        raise PreparednessError(f"no open proposal {proposal_id}")
    if not reason.strip():
        raise PreparednessError("declining a proposal needs a reason")
    _close(store, var_dir, dict(row), "declined", who, reason.strip(), now)
    timeline.record(store, var_dir, "preparedness.declined",
                    f"Förslag om {row['level']} avböjt av {who}: {reason.strip()}", now, row["incident_id"])


def withdraw_resolved(store: Store, var_dir: Path | None, now: datetime) -> list[int]:
    """Withdraw the open proposals whose incident has no firing or acknowledged alarm left (the
    alarm behind the proposal resolved): they stop ringing the officer on duty. Returns their ids."""
    withdrawn = []
    for proposal in open_proposals(store):
        incident_id = proposal["incident_id"]
        if incident_id is None:
            continue
        behind = store.one("SELECT count(*) AS n FROM alarm WHERE incident_id = ? AND state <> 'resolved' "
                           "AND rule <> ?", (incident_id, PROPOSAL_RULE))
        if behind is not None and behind["n"] == 0:
            # the store's states are proposed/accepted/declined: a withdrawal is declined by the system
            _close(store, var_dir, proposal, "declined", alarms.SYSTEM, WITHDRAWN, now)
            timeline.record(store, var_dir, "preparedness.withdrawn",
                            f"Förslaget om {proposal['level']} återkallat: larmet bakom förslaget är löst", now,
                            incident_id if isinstance(incident_id, int) else None)
            withdrawn.append(int(str(proposal["id"])))
    return withdrawn


def _close(store: Store, var_dir: Path | None, proposal: dict[str, object], state: str, who: str, reason: str,
           now: datetime) -> None:
    store.execute("UPDATE preparedness_proposal SET state = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
                  (state, who, iso(now), reason, proposal["id"]))
    alarm_id = proposal["alarm_id"]
    if isinstance(alarm_id, int):
        alarms.acknowledge(store, var_dir, alarm_id, who, now, via="preparedness decision")
        alarms.resolve(store, var_dir, alarm_id, who, now,
                       note="förslaget " + ("återkallat" if reason == WITHDRAWN else _STATE_SV.get(state, state)))
