"""Which ward agent is submitting: the unit's agent token (``obruten.wardkit.tokens``) proves the unit.

The same token the agent fetches its ward kits with lets it put entries into that unit's review
queue and ask how they were decided; it never reads or writes the record (staff confirm each entry
with their own session). The device id is the agent's own name for itself, kept with every entry
so reviewers see where it was documented. Checking a token needs no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from obruten.platform.errors import Unauthenticated
from obruten.wardkit.tokens import token_ok


@dataclass(frozen=True)
class AgentIdentity:
    unit_id: str
    device_id: str


def identify(var_dir: Path, authorization: str, unit_id: str, device_id: str) -> AgentIdentity:
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
    if not token_ok(var_dir, unit_id, token):
        raise Unauthenticated(f"send unit {unit_id}'s ward-agent token (Authorization: Bearer …); print it with "
                              f"`obruten wardkit agent-token --unit {unit_id}` on the journal")
    return AgentIdentity(unit_id=unit_id, device_id=device_id)
