"""The benchmarks' HTTP side: a lean asyncio HTTP/1.1 keep-alive client, and small blocking helpers.

``HttpConn`` is one keep-alive connection doing GETs; it costs far less CPU per request than httpx,
which matters on a 2-core machine where the client shares the CPUs with the server it measures.
A connection idle longer than ``max_idle`` (the server's keep-alive timeout, uvicorn: 5 s) is
reopened before the next request, as a browser would, instead of racing the server's close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
import urllib.request


class HttpConn:
    """One keep-alive connection; GET only."""

    def __init__(self, host: str, port: int, token: str, max_idle: float = 4.0, max_requests: int = 0) -> None:
        self.host, self.port = host, port
        self.max_idle = max_idle
        self.max_requests = max_requests  # reopen after this many (0: never), like nginx keepalive_requests
        self.served = 0
        self.head = self.header(token)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0
        self.connects = 0

    def header(self, token: str) -> bytes:
        return (f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {token}\r\n"
                "Accept: application/json\r\n\r\n").encode()

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1
        self.served = 0

    async def get(self, path: str, head: bytes | None = None) -> tuple[int, int]:
        """(status, body bytes); ``head`` (from ``header``) sends another session's token on this connection,
        as a reverse proxy does."""
        if self.writer is not None and (time.monotonic() - self.last_used > self.max_idle
                                        or self.max_requests and self.served >= self.max_requests):
            await self.close()  # the server has closed it (or is about to), or it has served its share
        if self.writer is None:
            await self._open()
        try:
            result = await self._get(path, head or self.head)
        except BaseException:
            await self.close()  # never reuse a connection in an unknown state; the next call reconnects
            raise
        self.last_used = time.monotonic()
        self.served += 1
        return result

    async def _get(self, path: str, head: bytes) -> tuple[int, int]:
        assert self.reader is not None and self.writer is not None
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + head)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            length = 0
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                length += size
                if size == 0:
                    break
        else:
            await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, length

    async def get_body(self, path: str) -> tuple[int, bytes]:
        """(status, body) for the few requests whose answer the caller reads (not chunked)."""
        if self.writer is None or time.monotonic() - self.last_used > self.max_idle:
            await self.close()
            await self._open()
        assert self.reader is not None and self.writer is not None
        try:
            self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head)
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            body = await self.reader.readexactly(length)
        except BaseException:
            await self.close()
            raise
        self.last_used = time.monotonic()
        return status, body

    async def close(self) -> None:
        writer, self.reader, self.writer = self.writer, None, None  # a second close (or a cancelled one) is a no-op
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


async def settle(port: int, timeout: float = 60) -> None:
    """Wait until the server on ``port`` has worked off requests of clients that went away (health answers fast)."""
    conn = HttpConn("127.0.0.1", port, "none")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            await conn.get("/api/v1/health")
            if time.perf_counter() - t0 < 0.05:
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become healthy")


def http_json(url: str, body: dict | None = None, token: str | None = None) -> object:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def metric_values(url: str, prefix: str) -> dict[str, float]:
    """The samples of a Prometheus page whose names start with ``prefix`` (label-less ones; the
    name without the prefix); {} when the page cannot be read."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    found: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            name, _, value = line.rpartition(" ")
            found[name.split("{")[0].removeprefix(prefix)] = float(value)
    return found
