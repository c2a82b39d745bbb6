"""Outgoing HTTP: one way to build a client, the errors a request fails with, and how to say so.

Every client in obruten is an ``httpx.Client`` from ``client``. Each has a timeout, given by the
caller (it bounds connecting, each read, each write and waiting for a pooled connection), and
trusts the operating system's certificate store, as the ``urllib`` clients before it did: a
hospital's own certificate authority is installed there, not in ``certifi``'s bundle. The TLS
context is made once per process, on first use: building one costs tens of milliseconds of CPU,
which a client built for each poll (status follower, ward agent, probes) would otherwise spend
every time.

A request fails with one of ``FAILURES``: the network or a timeout (``httpx.TransportError``), an
error status once the caller asks ``raise_for_status`` (``httpx.HTTPStatusError``), or a URL that
cannot be requested at all (``httpx.InvalidURL``, which httpx does not count as an
``HTTPError``). Anything else is a bug here and is left to propagate.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping

import httpx

FAILURES: tuple[type[Exception], ...] = (httpx.HTTPError, httpx.InvalidURL)


def failures(*more: type[Exception]) -> tuple[type[Exception], ...]:
    """``FAILURES`` and ``more`` (e.g. ValueError for a body that is not the JSON expected), for ``except``."""
    return (*FAILURES, *more)


@functools.cache
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()  # the system store; SSL_CERT_FILE / SSL_CERT_DIR apply


def client(timeout: float, *, base_url: str = "", token: str | None = None,
           headers: Mapping[str, str] | None = None) -> httpx.Client:
    """A client whose every request is bounded by ``timeout`` seconds; ``token`` is sent as a
    bearer token. Close it (``with http.client(...) as c:``)."""
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    return httpx.Client(base_url=base_url, timeout=timeout, headers=sent, verify=_tls())


def reason(exc: BaseException) -> str:
    """Why a request failed, in one line ("[Errno 111] Connection refused", "timed out", "HTTP 503")."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def unreachable(what: str, url: str, exc: BaseException, next_step: str) -> str:
    """The sentence for a service that did not answer: what, where, why, and what to do next."""
    return f"{what} is unreachable at {url} ({reason(exc)})" + (f". {next_step}" if next_step else "")
