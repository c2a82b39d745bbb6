"""Ward-agent tokens: which unit and device may deliver downtime documentation.

A token is ``agent.<payload>.<mac>``: the payload names the unit and the device, the MAC is the
journal's session key (``TokenSigner.sign``, purpose ``ward-agent``), so checking a token needs
no database. A token only lets an agent put entries into its own unit's review queue and ask how
they were decided; it never reads or writes the record. Staff confirm each entry with their own
session. Revoke a leaked token by rotating the journal's secret key (all sessions end too).
"""

from __future__ import annotations

import base64
import hmac
import json
import re
from dataclasses import dataclass

from obruten.auth import TokenSigner
from obruten.errors import Unauthenticated

PREFIX = "agent."
_PURPOSE = "ward-agent"
_DEVICE = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


@dataclass(frozen=True)
class AgentIdentity:
    unit_id: str
    device_id: str


def issue(signer: TokenSigner, unit_id: str, device_id: str) -> str:
    if not _DEVICE.match(device_id):
        raise ValueError("device id must be 1–100 of A-Z, a-z, 0-9, '.', '_', '-'")
    body = base64.urlsafe_b64encode(json.dumps({"unit": unit_id, "device": device_id}).encode()).decode().rstrip("=")
    return f"{PREFIX}{body}.{signer.sign(body, _PURPOSE)}"


def read(signer: TokenSigner, token: str) -> AgentIdentity:
    if not token.startswith(PREFIX) or token.count(".") != 2:
        raise Unauthenticated("a ward-agent token is needed (Authorization: Bearer agent.…); "
                              "issue one with `obruten postreg agent-token`")
    body, mac = token[len(PREFIX):].split(".")
    if not hmac.compare_digest(mac, signer.sign(body, _PURPOSE)):
        raise Unauthenticated("the ward-agent token does not match this journal's key; issue a new one")
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return AgentIdentity(unit_id=str(data["unit"]), device_id=str(data["device"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthenticated("the ward-agent token is malformed; issue a new one") from exc
