"""15.7: the night console speaks Swedish. Every console page, rendered in Swedish over a real
outage's records (an alarm with a driver error, its incident, escalation, deliveries, a proposal, a
status message, an event analysis), holds no English: state words, driver errors and the service's
own sentences appear only as technical detail marked ``lang="en"`` inside a collapsed ``<details>``."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from obruten.ops import incidents
from obruten.ops.analysis import analyses
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService
from obruten.ops.status_service import StatusIssuer, StatusSettings
from obruten.ops.users import authenticate

# words and strings that have leaked, or would: state and severity codes, probe names, driver errors,
# Python values, and plain English
LEAKS = ("firing", "acknowledged", "resolved", "critical", "major", "minor", "mitigated", "open", "closed",
         "down", "slow", "alerted", "notified", "escalated", "messages", "proposal", "failed", "sent", "error",
         "journal_write", "read_copy", "ward_kits", "OperationalError", "connection", "None", "True", "False",
         "the", "and", "with", "not", "is", "of", "for", "by", "on-call", "incident opened", "alarm")
_LEAK = re.compile(r"\b(" + "|".join(re.escape(w) for w in LEAKS) + r")\b", re.IGNORECASE)
# words that are Swedish too (or names), allowed although they match
_SWEDISH = {"Incident", "incident"}


class Visible(HTMLParser):
    """The text a reader sees, without scripts, styles and technical detail marked lang="en"."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []
        self.raw_outside_details: list[str] = []

    def _hidden(self) -> bool:
        return any(hidden for _, hidden in self._stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "input", "img", "meta", "link", "hr"):
            return
        marked = dict(attrs).get("lang") == "en"
        if marked and not any(t == "details" for t, _ in self._stack):
            self.raw_outside_details.append(tag)
        self._stack.append((tag, tag in ("script", "style") or marked))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.text.append(data)


@pytest.fixture
def outage(service: OpsService, tmp_path: Path, live) -> OpsService:  # type: ignore[no-untyped-def]  # live: the app made the analysis tables
    """A night's records: the write path down with a driver error, the incident, escalation and
    deliveries, the stabsläge proposal, a status message, the incident resolved and analysed."""
    service.store.execute("INSERT INTO ward_agent (unit, agent, last_seen_at) VALUES ('AVD1', 'pc1', '2025-01-01')")
    error = "OperationalError: connection failed: connection to server at 10.0.0.5, port 5432 failed: timeout"
    for _ in range(3):
        service.step([Finding("journal_write", "primary", "down", None, error, service.clock.now())])
        service.deliver()
        service.clock.advance(seconds=25)  # type: ignore[attr-defined]
    issuer = StatusIssuer(service.store, service.var_dir, StatusSettings(key_file=tmp_path / "k.pem"))
    service.status_issuer = issuer
    tib = authenticate(service.store, "tib", "demo")
    assert tib is not None
    issuer.issue(tib, mode="reservrutin", headline="Journalen nere", routine="RR-1", reason="Larm",
                 now=service.clock.now())
    incident = incidents.listing(service.store)[0]
    for _ in range(2):
        service.clock.advance(seconds=40)  # type: ignore[attr-defined]
        service.step([Finding("journal_write", "primary", "ok", 12.0, "write and read in 12 ms",
                              service.clock.now())])
    incidents.change_state(service.store, service.var_dir, incident.id, "resolved", "tib", service.clock.now())
    analyses.start(service.store, service.var_dir, incident_id=incident.id, commissioner="tib", leader="Tove",
                   team="Ivar", scope="Avbrottet", who="tib", now=service.clock.now())
    # and one alarm still firing, so its row and details are on the console
    for _ in range(2):
        service.step([Finding("read_copy", "standby", "down", None, "could not connect: refused",
                              service.clock.now())])
        service.clock.advance(seconds=35)  # type: ignore[attr-defined]
    return service


def test_no_english_on_swedish_console_pages(outage: OpsService, live, login) -> None:  # type: ignore[no-untyped-def]
    incident = incidents.listing(outage.store, include_closed=True)[-1]
    console = login(live.base, "tib", app="ops")
    pages = ["/console", f"/console/incidents/{incident.id}", "/console/oncall", "/console/status",
             "/console/analyses", "/console/analyses/1"]
    leaks: dict[str, list[str]] = {}
    for path in pages:
        r = console.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert '<html lang="sv">' in r.text
        page = Visible()
        page.feed(r.text)
        assert page.raw_outside_details == [], f"{path}: English detail outside a collapsed <details>"
        found = [m.group(0) for m in _LEAK.finditer(" ".join(page.text)) if m.group(0) not in _SWEDISH]
        if found:
            text = " ".join(" ".join(page.text).split())
            leaks[path] = [text[max(0, text.find(w) - 60):text.find(w) + 40] for w in dict.fromkeys(found)]
    assert leaks == {}, "\n".join(f"{p}: {s!r}" for p, ss in leaks.items() for s in ss)


def test_the_scan_catches_a_leak() -> None:
    page = Visible()
    page.feed('<html lang="sv"><p>Larm 3 (critical): firing</p><details><summary>Teknisk detalj</summary>'
              '<code lang="en">OperationalError: connection failed</code></details></html>')
    found = {m.group(0) for m in _LEAK.finditer(" ".join(page.text))}
    assert found == {"critical", "firing"}  # the marked detail is not counted, the state words are
