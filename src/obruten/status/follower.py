"""The follower: every node polls the status service for the current document.

Each ``tick`` asks the configured URLs in turn (the first that answers wins), offers what it gets
to the node's ledger, and returns a plain sentence. An unreachable service is not an error: the
node keeps showing the last document it accepted (it is on disk) and tries again next tick.
Pushed documents (``POST /api/v1/status``) go to the same ledger, so whichever arrives first wins.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence

from obruten.platform import http
from obruten.status.document import NotNewer, StatusError
from obruten.status.ledger import Ledger

log = logging.getLogger("obruten.status")
STATUS_PATH = "/api/v1/status"


def fetch(url: str, timeout: float = 2.0) -> object:
    """The JSON document a status URL serves (a base URL gets ``/api/v1/status`` appended).
    Raises one of ``http.FAILURES`` when it does not answer (or answers an error), ``ValueError``
    when the answer is not JSON."""
    if not url.rstrip("/").endswith(STATUS_PATH):
        url = url.rstrip("/") + STATUS_PATH
    with http.client(timeout) as client:
        data = json.loads(client.get(url).raise_for_status().content)
    return data.get("document", data) if isinstance(data, dict) else data


class Follower:
    def __init__(self, ledger: Ledger, urls: Sequence[str], interval_s: float = 2.0) -> None:
        self.ledger = ledger
        self.urls = [u for u in urls if u]
        self.interval_s = interval_s
        self.last_sentence = "not started"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> str:
        problems = []
        for url in self.urls:
            try:
                data = fetch(url)
            except http.failures(ValueError) as exc:
                problems.append(f"{url}: {http.reason(exc)}")
                continue
            if data is None:
                return f"{url} has issued no status message yet"
            try:
                doc = self.ledger.offer(data)
            except NotNewer:
                held = self.ledger.current()
                return f"up to date at version {held.version if held else '?'} from {url}"
            except StatusError as exc:
                problems.append(f"{url}: {exc}")
                continue
            return f"accepted status version {doc.version} ({doc.mode}) from {url}"
        if not self.urls:
            return "no status service configured (status_urls); only pushed messages are shown"
        return "no status service answered; showing the last accepted message (" + "; ".join(problems) + ")"

    def start(self) -> None:
        if not self.urls or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="status-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sentence = self.tick()
            except Exception:  # keep following; the traceback goes to the log
                log.exception("status follower tick failed; trying again")
                sentence = "tick failed"
            if sentence != self.last_sentence:
                log.info("status: %s", sentence)
                self.last_sentence = sentence
            self._stop.wait(self.interval_s)
