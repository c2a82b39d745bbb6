"""A logout on a read copy whose primary is unreachable stays in the process (the documented bound)."""

from __future__ import annotations

import asyncio
import socket

from obruten.platform.auth import Session
from obruten.record.revocation import Revocations


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once the socket is closed


def test_a_logout_with_the_primary_down_ends_the_session_in_this_process_only() -> None:
    url = f"postgresql://obruten@127.0.0.1:{_closed_port()}/obruten"
    revocations = Revocations(None, writable=False, lifetime=3600, node="rc-1", primary_url=url)  # type: ignore[arg-type]
    session = Session(7, "sjukskoterska", "S", "nurse", ("MED1",))
    assert asyncio.run(revocations.revoke(session)) is False
    assert revocations.local.ends(session)
