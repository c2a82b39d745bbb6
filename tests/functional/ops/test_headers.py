"""The ops console sends the security headers (platform/headers.py)."""

from __future__ import annotations

import httpx

from obruten.platform.headers import CSP


def test_the_ops_console_sends_them(live) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(live.base + "/login", timeout=10)
    assert r.headers["content-security-policy"] == CSP and r.headers["cache-control"] == "no-store"
