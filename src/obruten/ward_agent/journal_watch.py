"""Is the journal up? The downtime pages ask this, not the kit fetch: the journal's
``GET /api/v1/health`` answering ``read-write`` means staff should document in the journal again.

``probe`` is called by the downtime loop (every ``submit_interval``) and by the queue page's
button; a page shows the last answer and when it changed. Unknown until the first probe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from obruten.platform import http

UP, DOWN, UNKNOWN = "up", "down", "unknown"


@dataclass
class JournalWatch:
    journal_url: str | None
    timeout: float = 3.0
    state: str = UNKNOWN
    since: datetime | None = None
    checked_at: datetime | None = None
    said: str = "not checked yet"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def probe(self) -> str:
        """Ask the journal; return (and keep) ``up`` or ``down``."""
        if not self.journal_url:
            return self._set(DOWN, "no journal configured")
        try:
            with http.client(self.timeout) as client:
                r = client.get(self.journal_url.rstrip("/") + "/api/v1/health")
        except (httpx.HTTPError, OSError) as exc:
            return self._set(DOWN, f"unreachable ({type(exc).__name__})")
        try:
            body = r.json()
        except ValueError:
            body = {}
        if r.status_code == 200 and isinstance(body, dict) and body.get("database") == "read-write":
            return self._set(UP, "the journal answers and can be written")
        return self._set(DOWN, f"the journal answered {r.status_code} ({body.get('database', '') if isinstance(body, dict) else ''})")

    def _set(self, state: str, said: str) -> str:
        now = datetime.now(UTC)
        with self._lock:
            if state != self.state:
                self.since = now
            self.state, self.said, self.checked_at = state, said, now
        return state

    @property
    def up(self) -> bool:
        return self.state == UP
