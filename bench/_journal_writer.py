"""The journal as its users see it during a failover: a logged-in physician writing notes over HTTP.

``JournalWriter`` posts a note every ``interval`` seconds through the running journal app (its JSON
API with a bearer token, as the ward's clients do) and keeps a ledger: every note the journal
acknowledged (201, with its entry id) and every attempt that failed (status or exception). A drill's
journal RTO is the end of the longest pause in those acknowledgements that is under way at or after
the fault, exactly as the database's RTO is taken from the drill's own writers.
Imported as ``_journal_writer``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class JournalLedger:
    acks: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, acknowledged, entry id)
    failures: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def window(self, start: float, end: float) -> tuple[list[tuple[float, float, str]], list[tuple[float, str]]]:
        with self.lock:
            return ([a for a in self.acks if start <= a[1] <= end],
                    [f for f in self.failures if start <= f[0] <= end])


class JournalWriter:
    def __init__(self, base: str, username: str, password: str, patient: int, interval: float = 0.2,
                 timeout: float = 10.0) -> None:
        self.base, self.username, self.password, self.patient = base, username, password, patient
        self.interval, self.timeout = interval, timeout
        self.ledger = JournalLedger()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.timeout + 5)

    def _login(self, client: httpx.Client) -> None:
        r = client.post("/api/v1/login", json={"username": self.username, "password": self.password})
        r.raise_for_status()
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, timeout=self.timeout) as client:
            n = 0
            while not self._stop.is_set():
                n += 1
                sent = time.time()
                try:
                    if "Authorization" not in client.headers:
                        self._login(client)
                    r = client.post(f"/api/v1/patients/{self.patient}/notes",
                                    json={"kind": "daganteckning", "body": f"Failover-mätning {n}."})
                    if r.status_code == 201:
                        with self.ledger.lock:
                            self.ledger.acks.append((sent, time.time(), str(r.json()["entry_id"])))
                    else:
                        if r.status_code == 401:
                            client.headers.pop("Authorization", None)
                        with self.ledger.lock:
                            self.ledger.failures.append((time.time(), f"HTTP {r.status_code}"))
                except httpx.HTTPError as exc:
                    with self.ledger.lock:
                        self.ledger.failures.append((time.time(), type(exc).__name__))
                self._stop.wait(max(0.0, self.interval - (time.time() - sent)))
