"""Checking the audit chain against signed anchors kept outside the journal's database (ADR 0041).

The chain alone (``record.audit.verify``) proves that no event was altered or removed *unless*
whoever changed the database also recomputed every later hash, or only cut the newest events off.
An anchor, signed by the ops service with a key the database never sees (``ops.audit_anchors``),
records at one moment how many events the chain had and the id and hash of the newest. Here each
anchor must verify against a key the verifier trusts on its own, and the database must still hold
at least that many events and exactly that hash at that id. What this proves, and what it cannot,
is the detection window: everything up to the newest anchor is protected by a signature kept
elsewhere; events after it only by the chain.

``check`` is pure (a chain result and anchors in, a verdict with its sentences out) and tested
with built states; ``verify`` runs it over a database; ``load`` reads anchors from the ops API or
from a JSONL file; ``sources`` says where to look by default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from obruten.platform import http
from obruten.platform.checkpoint import Checkpoint, CheckpointError, parse
from obruten.platform.errors import ObrutenError
from obruten.platform.i18n import local_time
from obruten.platform.signing import SignatureError, TrustedKeys
from obruten.record import audit

CHAIN = "audit_event"
ANCHORS_FILE = Path("ops") / "audit_anchors.jsonl"  # under the var dir, written by the ops service
KEY_LINE_FILE = Path("ops") / "audit_anchor_key.pub"  # the ops service's anchor key, as a trusted line
ANCHORS_PATH = "/api/v1/audit/anchors"
EVIDENCE = ("Preserve the journal database, the ops store and the anchor file as evidence (do not restore, "
            "restart or repair anything first) and report it at once to the information-security officer "
            "(informationssäkerhetsansvarig), who involves the data protection officer.")


class AnchorSourceError(ObrutenError):
    """The anchors could not be read (no such file, the ops service did not answer, not anchors)."""


# ---- where anchors come from ------------------------------------------------------------------
def sources(var_dir: Path, anchors: str | None, trusted_keys: Path | None,
            ops_urls: Sequence[str] = (), token: str | None = None) -> tuple[str | None, Path]:
    """(where the anchors are, the trusted-keys file) with the defaults filled in: the ops
    service's anchor file under ``var_dir`` when present (the ops service of this machine, as in
    the demo), else the first ops URL when there is a token to ask it with; the ops service's key
    line under ``var_dir``."""
    trusted = trusted_keys or var_dir / KEY_LINE_FILE
    if anchors:
        return anchors, trusted
    if (var_dir / ANCHORS_FILE).exists():
        return str(var_dir / ANCHORS_FILE), trusted
    urls = [url.strip() for url in ops_urls if url.strip()]
    if urls and token:
        return urls[0], trusted
    return None, trusted


def load(source: str, token: str | None = None, timeout_s: float = 30.0) -> list[Checkpoint]:
    """Anchors from the ops service (``http(s)://…``, paged through) or from a JSONL file."""
    if source.startswith(("http://", "https://")):
        return from_url(source, token, timeout_s)
    return from_file(Path(source))


def from_file(path: Path) -> list[Checkpoint]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise AnchorSourceError(f"cannot read the anchor file {path}: {exc.strerror or exc}") from exc
    return [_parse(line, f"{path} line {number}") for number, line in enumerate(lines, start=1) if line.strip()]


def from_url(url: str, token: str | None, timeout_s: float = 30.0) -> list[Checkpoint]:
    base = url.rstrip("/").removesuffix(ANCHORS_PATH)
    found: list[Checkpoint] = []
    after: int | None = 0
    try:
        with http.client(timeout_s, base_url=base, token=token) as client:
            while after is not None:
                body = client.get(ANCHORS_PATH, params={"after": after}).raise_for_status().json()
                found += [_parse(item, f"{base}{ANCHORS_PATH}") for item in body["anchors"]]
                after = body.get("next")
    except http.FAILURES as exc:
        raise AnchorSourceError(http.unreachable("the ops service's audit anchors", base + ANCHORS_PATH, exc,
                                                "Check the URL and the token (--ops-user or OBRUTEN_OPS_TOKEN), "
                                                "or give the anchor file (--anchors FILE)")) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise AnchorSourceError(f"{base}{ANCHORS_PATH} did not answer with audit anchors") from exc
    return found


def login(url: str, username: str, password: str, timeout_s: float = 15.0) -> str:
    """A bearer token for the ops API (``POST /api/v1/session``) at ``url``."""
    if not url.startswith(("http://", "https://")):
        raise AnchorSourceError("logging in to the ops service needs its URL: give --anchors http(s)://…")
    base = url.rstrip("/").removesuffix(ANCHORS_PATH)
    try:
        with http.client(timeout_s, base_url=base) as client:
            return str(client.post("/api/v1/session", json={"username": username, "password": password})
                       .raise_for_status().json()["token"])
    except http.FAILURES as exc:
        raise AnchorSourceError(f"cannot log in to the ops service at {base} as {username} "
                                f"({http.reason(exc)})") from exc
    except (ValueError, KeyError) as exc:
        raise AnchorSourceError(f"{base} did not answer the login as the ops service does") from exc


def _parse(item: object, where: str) -> Checkpoint:
    try:
        return parse(json.loads(item) if isinstance(item, str) else item)
    except (ValueError, CheckpointError) as exc:
        raise AnchorSourceError(f"{where} is not a signed audit anchor ({exc}); the anchor record may have been "
                                f"tampered with. {EVIDENCE}") from exc


# ---- the verdict ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Problem:
    kind: str  # "broken" (the chain itself), "truncated", "rewritten", "forged" (the anchor)
    sentence: str
    anchor: Checkpoint | None = None


@dataclass(frozen=True)
class Verdict:
    chain: audit.VerifyResult
    anchors: int  # how many were checked
    problems: tuple[Problem, ...] = ()
    newest: Checkpoint | None = None  # the newest anchor that holds
    intact_up_to: Checkpoint | None = None  # on failure: the newest anchor before the first that fails
    after_events: int = 0  # events after the newest anchor
    after_seconds: float = 0.0  # time since the newest anchor was taken
    kinds: frozenset[str] = field(default_factory=frozenset)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """What to tell the operator: what holds, what failed, and what to do."""
        if self.ok:
            said = [f"audit chain intact: {self.chain.events:,} events verified"]
            if self.newest is None:
                said.append("no anchors: the chain alone cannot show that its newest events were deleted or that "
                            "it was rewritten and recomputed (give --anchors URL|FILE; ADR 0041)")
                return said
            n = self.newest
            said.append(f"{self.anchors:,} signed anchors hold; chain intact up to event {n.last_id} "
                        f"({n.events:,} events) anchored at {_when(n)} by {n.node}; events after the newest anchor "
                        f"({self.after_events:,} events, the last {self.after_seconds:,.0f} seconds) are "
                        f"protected only by the chain")
            return said
        said = [_headline(self.problems[0]) + ":"]
        by_kind: dict[str, list[Problem]] = {}
        for problem in self.problems:
            by_kind.setdefault(problem.kind, []).append(problem)
        for problems in by_kind.values():
            said.append(problems[0].sentence + (f" ({len(problems) - 1:,} more anchors fail the same way)"
                                                if len(problems) > 1 else ""))
        if self.intact_up_to is not None:
            u = self.intact_up_to
            said.append(f"Events up to event {u.last_id} ({u.events:,} events) still match the anchor taken at {_when(u)}: "
                        f"the change concerns events after that one.")
        said.append(EVIDENCE)
        return said


def _headline(problem: Problem) -> str:
    return {"broken": "AUDIT CHAIN BROKEN", "truncated": "AUDIT LOG TAMPERED WITH: events were deleted",
            "rewritten": "AUDIT LOG TAMPERED WITH: events were rewritten and the chain recomputed",
            "forged": "AUDIT ANCHOR REFUSED: an anchor does not verify"}[problem.kind]


def _when(anchor: Checkpoint) -> str:
    return local_time(anchor.taken_at, "%Y-%m-%d %H:%M:%S")


def check(chain: audit.VerifyResult, anchors: Iterable[Checkpoint], trusted: TrustedKeys,
          now: datetime) -> Verdict:
    """Judge a recomputed chain (with the hashes of the anchored ids) against the anchors."""
    problems: list[Problem] = []
    if not chain.ok:
        problems.append(Problem("broken", f"The chain breaks at event id {chain.first_bad_id}: {chain.problem}."))
    anchors = sorted(anchors, key=lambda a: (a.events, a.last_id or 0, a.at))
    held: list[Checkpoint] = []
    first_failing: Checkpoint | None = None
    for anchor in anchors:
        problem = _signature(anchor, trusted) or (None if not chain.ok else _against(chain, anchor))
        if problem is None:
            held.append(anchor)
        else:
            problems.append(problem)
            if first_failing is None and problem.kind != "forged":
                first_failing = anchor
    newest = held[-1] if held else None
    if problems:
        before = [a for a in held if first_failing is None or (a.events, a.last_id or 0) <
                  (first_failing.events, first_failing.last_id or 0)]
        return Verdict(chain, len(anchors), tuple(problems), newest, before[-1] if before else None,
                       kinds=frozenset(p.kind for p in problems))
    if newest is None:
        return Verdict(chain, 0)
    return Verdict(chain, len(anchors), (), newest, after_events=chain.events - newest.events,
                   after_seconds=max(0.0, (now - newest.taken_at).total_seconds()))


def _signature(anchor: Checkpoint, trusted: TrustedKeys) -> Problem | None:
    try:
        anchor.verify(trusted)
    except SignatureError as exc:
        return Problem("forged", f"The anchor of event {anchor.last_id} ({anchor.events:,} events, taken at "
                                 f"{_when(anchor)} by {anchor.node}) is refused: {exc}. The anchor record was altered, "
                                 f"or it is not from the ops service whose key you trust.", anchor)
    if anchor.chain != CHAIN:
        return Problem("forged", f"The anchor taken at {_when(anchor)} is of the chain {anchor.chain!r}, "
                                 f"not of the audit log.", anchor)
    return None


def _against(chain: audit.VerifyResult, anchor: Checkpoint) -> Problem | None:
    when = f"anchored at {_when(anchor)} by {anchor.node}"
    if anchor.last_id is None:
        return None  # the chain was empty then
    if chain.events < anchor.events:
        return Problem("truncated", f"The database holds {chain.events:,} audit events, but {anchor.events:,} "
                                    f"were {when} (up to event {anchor.last_id}): "
                                    f"{anchor.events - chain.events:,} or more events were deleted.", anchor)
    digest = chain.hashes.get(anchor.last_id)
    if digest is None:
        if chain.last_id is None or chain.last_id < anchor.last_id:
            tail = f"the chain now ends at event {chain.last_id}" if chain.last_id is not None else "no events"
            return Problem("truncated", f"Event {anchor.last_id}, {when}, is gone ({tail}): the newest events "
                                        f"were deleted.", anchor)
        return Problem("truncated", f"Event {anchor.last_id}, {when}, is gone while later events remain: events "
                                    f"were deleted and the chain goes on over the gap (recomputed, or new events "
                                    f"linked onto the cut tail).", anchor)
    if digest.hex() != anchor.last_hash:
        return Problem("rewritten", f"Event {anchor.last_id} no longer has the hash {when}: an event at or before "
                                    f"it was changed, removed or inserted, and every later hash recomputed.", anchor)
    return None


def verify(url: str, anchors: Sequence[Checkpoint], trusted: TrustedKeys | None,
           now: datetime | None = None) -> Verdict:
    """Recompute the chain in the database at ``url`` and check it against ``anchors``."""
    watch = frozenset(a.last_id for a in anchors if a.last_id is not None)
    return check(audit.verify(url, watch), anchors, trusted or TrustedKeys(), now or datetime.now(UTC))


def trusted_keys(path: Path) -> TrustedKeys:
    """The keys anchors must be signed with; refuses to check anchors against none."""
    keys = TrustedKeys.load(path)
    if not len(keys):
        raise AnchorSourceError(f"no trusted anchor key in {path}: give --trusted-keys FILE holding the ops "
                                f"service's line (the ops service writes it to var/ops/audit_anchor_key.pub); "
                                f"keep your own copy of it, apart from the ops host")
    return keys
