"""The downtime staff verifier: who may document on a unit's ward agent, checkable offline.

The journal exports, per unit, its active nurses and physicians with their argon2 password
hashes (the same credentials as in the journal, so nobody learns a second secret), signed with
the ward-kit signing key (Ed25519, ``platform.signing``). The agent fetches it with the unit's
agent token, checks the signature against the kits' trusted keys and keeps it on disk (0600);
when the journal is down it checks a password against the hash locally. A verifier is valid for
``VALID_FOR`` after it was issued: a PC that has been cut off longer stops accepting anyone and
says so (an account the journal deactivated stays usable offline at most that long). See ADR 0049.

Imports nothing of the record: the journal (``postreg.downtime_identity``) makes it, the agent
(``ward_agent.identity``) checks it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from obruten.platform.signing import SignatureError, SigningKey, TrustedKeys, canonical

FORMAT = "obruten-downtime-verifier/1"
VALID_FOR = timedelta(days=7)


def sign(unit: str, staff: list[dict[str, str]], key: SigningKey, now: datetime | None = None) -> dict[str, Any]:
    """The signed verifier of ``unit``: ``staff`` rows carry username, full_name, role, password_hash."""
    issued = now or datetime.now(UTC)
    body = {"unit": unit, "issued_at": issued.isoformat(), "valid_until": (issued + VALID_FOR).isoformat(),
            "key_id": key.key_id, "staff": staff}
    return {"format": FORMAT, "body": body, "key_id": key.key_id, "signature": key.sign(canonical(body))}


def check(document: Any, trusted: TrustedKeys, unit: str) -> dict[str, Any]:
    """The body of a verifier signed by a trusted key for ``unit``; raises SignatureError otherwise."""
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("body"), dict):
        raise SignatureError("not a downtime staff verifier")
    body = document["body"]
    if body.get("key_id") != document.get("key_id"):
        raise SignatureError("the verifier names two different keys: it was altered")
    trusted.verify(str(document.get("key_id", "")), canonical(body), str(document.get("signature", "")))
    if body.get("unit") != unit:
        raise SignatureError(f"the verifier is for unit {body.get('unit')!r}, this agent serves {unit!r}")
    if not isinstance(body.get("staff"), list):
        raise SignatureError("the verifier lists no staff")
    return body
