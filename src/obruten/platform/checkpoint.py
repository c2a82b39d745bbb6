"""A signed checkpoint of a hash chain's head: how many links, the newest one's id and hash, when,
and who took it. It proves, to whoever trusts the signing key, that the chain held at least that
much at that moment; a chain later cut short or recomputed no longer matches it (ADR 0041).

One document, two sides that must agree on it: the ops service takes and signs checkpoints of the
journal's audit chain (``ops.audit_anchors``) and ``obruten audit verify`` checks the chain against
them (``record.audit_anchor``). The signature covers the canonical JSON of every field except
``signature`` (``platform.signing``), like the status message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime

from obruten.platform.errors import ObrutenError
from obruten.platform.signing import SignatureError, SigningKey, TrustedKeys, canonical


class CheckpointError(ObrutenError):
    """A checkpoint document is malformed (a field missing or of the wrong type)."""


@dataclass(frozen=True)
class Checkpoint:
    chain: str  # which chain: "audit_event"
    database: str  # the database the chain lives in, as its taker saw it (for the reader)
    events: int  # links in the chain at ``at``
    last_id: int | None  # the newest link's id (None: the chain was empty)
    last_hash: str  # the newest link's hash, hex ("" when empty)
    at: str  # when it was taken: ISO 8601 UTC with microseconds
    node: str  # who took it (e.g. "ops@host")
    key_id: str = ""
    signature: str = ""

    @property
    def taken_at(self) -> datetime:
        return datetime.fromisoformat(self.at).astimezone(UTC)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def signed_bytes(self) -> bytes:
        body = self.as_dict()
        body.pop("signature")
        return canonical(body)

    def signed(self, key: SigningKey) -> Checkpoint:
        unsigned = replace(self, key_id=key.key_id, signature="")
        return replace(unsigned, signature=key.sign(unsigned.signed_bytes()))

    def verify(self, trusted: TrustedKeys) -> None:
        """Raise ``SignatureError`` unless a trusted key signed exactly this checkpoint."""
        if not self.signature:
            raise SignatureError("the checkpoint is not signed")
        trusted.verify(self.key_id, self.signed_bytes(), self.signature)


_TYPES: dict[str, tuple[type, ...]] = {
    "chain": (str,), "database": (str,), "events": (int,), "last_id": (int, type(None)), "last_hash": (str,),
    "at": (str,), "node": (str,), "key_id": (str,), "signature": (str,)}


def parse(data: object) -> Checkpoint:
    """A checkpoint from its JSON form; raises ``CheckpointError`` when it is not one."""
    if not isinstance(data, dict):
        raise CheckpointError("a checkpoint is a JSON object")
    names = {f.name for f in fields(Checkpoint)}
    missing = sorted(names - set(data))
    if missing:
        raise CheckpointError(f"the checkpoint lacks {', '.join(missing)}")
    for name, kinds in _TYPES.items():
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise CheckpointError(f"the checkpoint's {name} has the wrong type")
    try:
        datetime.fromisoformat(data["at"])
    except ValueError as exc:
        raise CheckpointError("the checkpoint's time is not ISO 8601") from exc
    return Checkpoint(**{name: data[name] for name in names})
