"""Agent tokens: each ward agent fetches only its own unit's kit.

A token is ``HMAC-SHA256(agent secret, unit id)`` (hex), so the journal checks it with no table
and no database write, and a token taken from one ward PC opens no other ward's kit. The secret
is created once in ``var_dir/wardkits/agent-secret`` (0600); every node that serves kits (journal,
read copy) is given the same file. ``obruten wardkit agent-token --unit U`` prints a unit's token.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from obruten.platform.auth import load_or_create_secret, same_secret


def secret_path(var_dir: Path) -> Path:
    return var_dir / "wardkits" / "agent-secret"


def token_for(secret: str, unit: str) -> str:
    return hmac.new(secret.encode(), unit.encode(), hashlib.sha256).hexdigest()


def agent_token(var_dir: Path, unit: str) -> str:
    return token_for(load_or_create_secret(secret_path(var_dir)), unit)


def token_ok(var_dir: Path, unit: str, given: str) -> bool:
    path = secret_path(var_dir)
    if not path.exists() or not given:
        return False
    return same_secret(given, token_for(path.read_text().strip(), unit))
