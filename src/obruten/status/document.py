"""The status document: one signed, versioned message about how the region is running.

A node accepts a document only if it is well formed, signed by a key in its trusted-keys file
and newer (higher ``version``) than the one it holds. The signature covers the canonical JSON of
every field except ``signature`` itself (``obruten.platform.signing.canonical``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta

from obruten.platform.errors import ObrutenError
from obruten.platform.signing import SignatureError, SigningKey, TrustedKeys, canonical

# lowest to highest; the banner and the write guard use the most severe mode that applies
MODES = ("normal", "efterregistrering", "storning", "reservrutin")
_SEVERITY = {"normal": 0, "efterregistrering": 1, "storning": 2, "reservrutin": 3}
FORMAT = 1


class StatusError(ObrutenError, ValueError):
    """A status document is malformed, untrusted or not newer; the message says which."""


class Untrusted(StatusError):
    """The signature does not verify, or its key is not in this node's trusted keys."""


class NotNewer(StatusError):
    """The document is not newer than the one the node holds (a replay or a late copy)."""


def severity(mode: str) -> int:
    return _SEVERITY[mode]


def _check_mode(mode: object, where: str) -> str:
    if mode not in _SEVERITY:
        raise StatusError(f"{where}: mode {mode!r} is not one of {', '.join(MODES)}")
    return str(mode)


def _time(value: object, where: str) -> str:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise StatusError(f"{where} must be an ISO 8601 time, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise StatusError(f"{where} must carry a time zone (UTC: +00:00)")
    return parsed.astimezone(UTC).isoformat(timespec="seconds")


def _texts(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise StatusError(f"{where} must be a list of strings")
    return tuple(v.strip() for v in value if v.strip())


@dataclass(frozen=True)
class StatusDocument:
    version: int
    mode: str  # for the whole region
    headline: str
    routine: str  # which routine applies (e.g. "Reservrutin journal: pappersjournal, blankett RR-1")
    issuer_name: str
    issuer_role: str
    issued_at: str  # ISO 8601, UTC
    next_update_due: str | None = None
    details: str = ""
    unit_modes: dict[str, str] = field(default_factory=dict)  # care unit → mode, overrides the region
    affected_systems: tuple[str, ...] = ()
    affected_units: tuple[str, ...] = ()
    # a return to normal operation: the banner says "Normal drift sedan HH:MM" until this time, then
    # nothing (a normal message never goes overdue)
    banner_until: str | None = None
    key_id: str = ""
    signature: str = ""
    format: int = FORMAT

    # ---- reading -----------------------------------------------------------------------------
    def mode_for(self, unit: str | None) -> str:
        """The mode in force for ``unit``: its override, else the region's."""
        if unit is not None and unit in self.unit_modes:
            return self.unit_modes[unit]
        return self.mode

    def worst_mode(self, units: tuple[str, ...] | list[str] | None = None) -> str:
        """The most severe mode in force on ``units``; without units, of the region and every override."""
        modes = [self.mode_for(u) for u in units] if units else [self.mode, *self.unit_modes.values()]
        return max(modes, key=severity)

    @property
    def normal_everywhere(self) -> bool:
        return self.worst_mode() == "normal"

    @property
    def quiet(self) -> bool:
        """Nothing to show, whatever the time: normal everywhere, no headline, no return-to-normal notice."""
        return self.normal_everywhere and not self.headline and not self.banner_until

    def shown_at(self, now: datetime) -> bool:
        """Whether the banner shows at ``now``: a message about a disturbance always; normal
        operation only until ``banner_until`` (or, for an old notice without one, while it has a
        headline)."""
        if not self.normal_everywhere:
            return True
        if self.banner_until:
            return now < datetime.fromisoformat(self.banner_until)
        return bool(self.headline)

    def issued(self) -> datetime:
        return datetime.fromisoformat(self.issued_at)

    def next_update(self) -> datetime | None:
        return datetime.fromisoformat(self.next_update_due) if self.next_update_due else None

    # ---- signing -----------------------------------------------------------------------------
    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["affected_systems"] = list(self.affected_systems)
        data["affected_units"] = list(self.affected_units)
        if data["banner_until"] is None:  # absent, as in documents signed before the field existed
            del data["banner_until"]
        return data

    def signed_bytes(self) -> bytes:
        body = self.as_dict()
        body.pop("signature")
        return canonical(body)

    def signed(self, key: SigningKey) -> StatusDocument:
        unsigned = replace(self, key_id=key.key_id, signature="")
        return replace(unsigned, signature=key.sign(unsigned.signed_bytes()))

    def verify(self, trusted: TrustedKeys) -> None:
        if not self.signature:
            raise Untrusted("the status document is not signed")
        try:
            trusted.verify(self.key_id, self.signed_bytes(), self.signature)
        except SignatureError as exc:
            raise Untrusted(f"refused status document version {self.version}: {exc}") from exc


def parse(data: object) -> StatusDocument:
    """A document from its JSON form; raises ``StatusError`` naming the first problem."""
    if not isinstance(data, dict):
        raise StatusError("a status document is a JSON object")
    known = set(StatusDocument.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise StatusError(f"unknown fields in the status document: {', '.join(sorted(unknown))}")
    for name in ("version", "mode", "headline", "routine", "issuer_name", "issuer_role", "issued_at"):
        if name not in data:
            raise StatusError(f"the status document lacks {name!r}")
    version = data["version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StatusError("version must be a positive integer")
    if data.get("format", FORMAT) != FORMAT:
        raise StatusError(f"status document format {data.get('format')!r} is not understood by this node "
                          f"(it reads format {FORMAT}); upgrade the node")
    units = data.get("unit_modes") or {}
    if not isinstance(units, dict):
        raise StatusError("unit_modes must map care unit ids to modes")
    for name in ("headline", "routine", "issuer_name", "issuer_role", "details", "key_id", "signature"):
        if not isinstance(data.get(name, ""), str):
            raise StatusError(f"{name} must be a string")
    due = data.get("next_update_due")
    until = data.get("banner_until")
    return StatusDocument(
        version=version, mode=_check_mode(data["mode"], "mode"), headline=data["headline"], routine=data["routine"],
        issuer_name=data["issuer_name"], issuer_role=data["issuer_role"],
        issued_at=_time(data["issued_at"], "issued_at"),
        next_update_due=_time(due, "next_update_due") if due else None,
        details=data.get("details", ""),
        unit_modes={str(u): _check_mode(m, f"unit_modes[{u}]") for u, m in units.items()},
        affected_systems=_texts(data.get("affected_systems", []), "affected_systems"),
        affected_units=_texts(data.get("affected_units", []), "affected_units"),
        banner_until=_time(until, "banner_until") if until else None,
        key_id=data.get("key_id", ""), signature=data.get("signature", ""))


def draft(*, version: int, mode: str, headline: str, routine: str, issuer_name: str, issuer_role: str,
          next_update_in: timedelta | None = None, details: str = "", unit_modes: dict[str, str] | None = None,
          affected_systems: list[str] | tuple[str, ...] = (), affected_units: list[str] | tuple[str, ...] = (),
          now: datetime | None = None, banner_for: timedelta | None = None) -> StatusDocument:
    """An unsigned document, validated the same way as a received one. ``banner_for``: how long a
    message of normal operation everywhere shows ("Normal drift sedan HH:MM"); such a message has
    no next update (it never goes overdue)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    modes = {mode, *(unit_modes or {}).values()}
    if modes != {"normal"} and not headline.strip():
        raise StatusError("say what is wrong in a headline")
    if "reservrutin" in modes and not routine.strip():
        raise StatusError("name the routine staff must follow (routine) when reserve routines are in force")
    normal = modes == {"normal"}
    if normal:
        next_update_in = None
    data = {"version": version, "mode": mode, "headline": headline.strip(), "routine": routine.strip(),
            "issuer_name": issuer_name, "issuer_role": issuer_role, "issued_at": now.isoformat(),
            "next_update_due": (now + next_update_in).isoformat() if next_update_in else None,
            "details": details.strip(), "unit_modes": dict(unit_modes or {}),
            "affected_systems": list(affected_systems), "affected_units": list(affected_units),
            "banner_until": (now + banner_for).isoformat() if normal and banner_for else None}
    return parse(data)


def newer(candidate: StatusDocument, held: StatusDocument | None) -> None:
    """Raise ``NotNewer`` unless ``candidate`` may replace ``held``."""
    if held is not None and candidate.version <= held.version:
        raise NotNewer(f"status document version {candidate.version} is not newer than version "
                       f"{held.version} held here; issue a new message (the service numbers it)")


def next_version(previous: StatusDocument | None, now: datetime) -> int:
    """Versions are at least the issue time in Unix seconds, so a message signed offline on a node
    (``obruten status set --offline``) and a later one from the service never share a number."""
    return max((previous.version if previous else 0) + 1, int(now.timestamp()))


def parse_duration(text: str) -> timedelta:
    """``30m``, ``2h``, ``90s``, ``1h30m`` or a plain number of minutes."""
    text = text.strip().lower()
    if text.isdigit():
        return timedelta(minutes=int(text))
    total, number = timedelta(), ""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += timedelta(**{units[ch]: int(number)})
            number = ""
        else:
            raise StatusError(f"{text!r} is not a duration; write e.g. 30m, 2h or 1h30m")
    if number or total <= timedelta():
        raise StatusError(f"{text!r} is not a duration; write e.g. 30m, 2h or 1h30m")
    return total
