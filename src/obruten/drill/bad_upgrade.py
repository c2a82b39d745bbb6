"""The bad-upgrade drill (``obruten drill run bad-upgrade``): an upgrade whose new flag makes the
database hang on a common request, as Örebro's letter-printing flag crashed Sybase on every node.

Self-contained, on a throw-away PostgreSQL instance of its own (never the live journal): a region
at the previous release is upgraded with ``obruten upgrade apply`` (a real pre-upgrade snapshot),
the journal app is served over real HTTP with a pool of 4, and staff load runs (a nurse writing
notes, four colleagues opening patients). Then the operator switches on the release's new flag
``letter_printing``. Its code path (the bad release's, added by this drill only) runs
``SELECT pg_sleep(600)`` in the database on every patient read — a statement that blocks
(a hang, not a crash: a real backend crash needs a C-level fault). Within seconds every pool
connection waits in the database and the whole journal stops answering.

Measured: time to detect (the drill's own probe: ``GET /api/v1/health`` within 2 s, every 0.25 s),
time to roll back (the on-call's response: status message ``storning`` pushed to the node, flag off,
the hung statements cancelled, until the probe answers again), then ``obruten upgrade rollback`` of
the schema; writes lost (acknowledged notes missing afterwards: must be 0); and whether staff were
told (the node serves the signed status message staff see as the banner).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import httpx
import psycopg
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from obruten.drill.faults import DrillError
from obruten.ops.settings import StatusSettings
from obruten.ops.status_service import StatusIssuer
from obruten.ops.store import Store
from obruten.platform import config as config_mod
from obruten.platform import migrations
from obruten.platform.auth import Session
from obruten.platform.flags import Flag
from obruten.platform.pgserver import PostgresInstance
from obruten.platform.progress import Say
from obruten.platform.signing import load_or_create_key
from obruten.record import flags as catalogue
from obruten.record import schema as journal_schema
from obruten.upgrade import run as upgrade
from obruten.upgrade import stores

NAME = "bad-upgrade"
BAD_FLAG = Flag("letter_printing", catalogue.RELEASE,
                "Brev skrivs ut automatiskt när en patient öppnas (övningens felaktiga funktion).",
                "Letters are printed when a patient is opened (the drill's faulty feature).")
MARKER = "obruten-drill-letter"  # in the hanging statement's text, so on-call can find and cancel it
PROBE_EVERY_S, PROBE_TIMEOUT_S = 0.25, 2.0
STABLE_S = 3.0  # recovered: answering this long in a row
READERS = 4  # staff opening patients at once (each every 0.3 s)


@dataclass
class BadUpgradeReport:
    started_at: str
    fault: str
    snapshot_s: float | None = None
    upgrade_s: float | None = None
    detect_s: float | None = None  # flag on → the probe fails
    told_s: float | None = None  # detection → the node serves the status message
    recover_s: float | None = None  # detection → the probe answers again (flag off + cancel)
    last_hang_s: float | None = None  # detection → the last hung statement cancelled (the app saw the flag off)
    schema_rollback_s: float | None = None  # `upgrade rollback` of the release's migrations
    journal_answers_after_rollback: bool = False
    writes_acked: int = 0
    writes_lost: int = 0
    writes_failed: int = 0  # not acknowledged (timed out or refused during the hang): staff re-enter them
    reads_ok: int = 0
    reads_failed: int = 0
    staff_told: bool = False
    status_version: int | None = None
    sentences: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (self.detect_s is not None and self.recover_s is not None and self.writes_lost == 0
                and self.staff_told and self.journal_answers_after_rollback)

    def to_markdown(self) -> str:
        def s(v: float | None) -> str:
            return "—" if v is None else f"{v:.2f} s"
        rows = [("Fault", self.fault), ("Pre-upgrade snapshot", s(self.snapshot_s)), ("Upgrade (migrations)", s(self.upgrade_s)),
                ("Time to detect (flag on → probe fails)", s(self.detect_s)),
                ("Staff told (detection → status message served)", s(self.told_s)),
                ("Time to roll back (detection → journal answers: flag off + cancel)", s(self.recover_s)),
                ("Last hung statement cancelled (the app saw the flag off)", s(self.last_hang_s)),
                ("Schema rollback (`upgrade rollback`)", s(self.schema_rollback_s)),
                ("Journal answers after the schema rollback", "yes" if self.journal_answers_after_rollback else "NO"),
                ("Writes acknowledged / lost", f"{self.writes_acked} / {self.writes_lost}"),
                ("Writes not acknowledged during the hang", str(self.writes_failed)),
                ("Patient reads ok / failed", f"{self.reads_ok} / {self.reads_failed}"),
                ("Staff told (status message)", f"yes (version {self.status_version}, storning)" if self.staff_told else "NO")]
        lines = [f"# Drill {NAME}: {'PASSED' if self.passed else 'FAILED'}", "", f"Started {self.started_at}", "",
                 "| | |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), "", "## Steps", "",
                 *(f"1. {x}" for x in self.sentences)]
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"{NAME}-{self.started_at.replace(':', '')}"
        js, md = directory / f"{stem}.json", directory / f"{stem}.md"
        js.write_text(json.dumps(asdict(self) | {"passed": self.passed}, indent=2))
        md.write_text(self.to_markdown())
        return js, md


# ---- the bad release --------------------------------------------------------------------------------
@contextlib.contextmanager
def bad_release() -> Iterator[None]:
    """This process runs the bad release: its catalogue has ``letter_printing`` (restored after)."""
    saved = catalogue.CATALOGUE, dict(catalogue.BY_NAME)
    catalogue.CATALOGUE = (*saved[0], BAD_FLAG)
    catalogue.BY_NAME[BAD_FLAG.name] = BAD_FLAG
    try:
        yield
    finally:
        catalogue.CATALOGUE = saved[0]
        catalogue.BY_NAME.clear()
        catalogue.BY_NAME.update(saved[1])


class LetterPrinting:
    """The bad release's feature: with its flag on, opening a patient first "prints a letter" with a
    statement that blocks in the database."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"].startswith("/api/v1/patients/"):
            state = scope["app"].state
            if getattr(state, "flags", None) is not None and state.flags.on(BAD_FLAG.name):
                pool = state.runtime.journal.pool
                async with pool.connection() as conn:
                    await conn.execute(f"SELECT pg_sleep(600) /* {MARKER} */")
        await self.app(scope, receive, send)


# ---- helpers ------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _previous_release(folder: Path) -> Path:
    """The journal's migrations of the release before this one (all but the newest)."""
    newest = migrations.load(journal_schema.__name__)[-1].name
    folder.mkdir(parents=True)
    for f in resources.files(journal_schema.__name__).iterdir():
        if f.name.endswith(".sql") and f.name[:4].isdigit() and not f.name.startswith(newest):
            (folder / f.name).write_text(f.read_text(encoding="utf-8"))
    return folder


def _wait(what: Callable[[], bool], deadline_s: float) -> float | None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if what():
            return time.monotonic()
        time.sleep(0.05)
    return None


class _Served:
    def __init__(self, app: object) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",  # type: ignore[arg-type]
                                                    timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        if _wait(lambda: self.server.started, 30) is None:
            raise DrillError("the drill's journal app did not start within 30 s")
        self.base = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


class _Load:
    """Staff at work: a nurse writes a note every 0.2 s, READERS colleagues each open a patient every
    0.3 s; and the probe. Each in its own thread, each request bounded."""

    def __init__(self, base: str, patient: int, admin_url: str) -> None:
        self.base, self.patient, self.admin_url = base, patient, admin_url
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.failed = 0
        self.reads_ok = self.reads_failed = 0
        self.probe_ok = True
        self.probe_changed = time.monotonic()
        work = (self._write, *([self._read] * READERS), self._probe)
        self.threads = [threading.Thread(target=f, daemon=True) for f in work]

    def _token(self, client: httpx.Client, username: str) -> None:
        """Log in, retrying (a loaded machine may be slow to answer) until the drill stops."""
        while not self.stop.is_set():
            try:
                r = client.post("/api/v1/login", json={"username": username, "password": "demo"}, timeout=15)
            except httpx.HTTPError:
                continue
            if r.status_code == 200:
                client.headers["Authorization"] = f"Bearer {r.json()['token']}"
                return

    def _write(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5) as c:
            self._token(c, "sjukskoterska")
            n = 0
            while not self.stop.wait(0.2):
                n += 1
                text = f"drill {NAME} note {n} {uuid.uuid4()}"
                try:
                    r = c.post(f"/api/v1/patients/{self.patient}/notes", json={"kind": "omvardnad", "body": text})
                    if r.status_code == 201:
                        self.acked.append(text)
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1

    def _read(self) -> None:
        with httpx.Client(base_url=self.base, timeout=5) as c:
            self._token(c, "sjukskoterska")
            while not self.stop.wait(0.3):
                try:
                    ok = c.get(f"/api/v1/patients/{self.patient}").status_code == 200
                except httpx.HTTPError:
                    ok = False
                with self.lock:
                    if ok:
                        self.reads_ok += 1
                    else:
                        self.reads_failed += 1

    def _probe(self) -> None:
        with httpx.Client(base_url=self.base, timeout=PROBE_TIMEOUT_S) as c:
            while not self.stop.wait(PROBE_EVERY_S):
                try:
                    ok = c.get("/api/v1/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok != self.probe_ok:
                    self.probe_ok, self.probe_changed = ok, time.monotonic()

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


async def _switch(url: str, on: bool, var_dir: Path, reason: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await catalogue.switch(conn, BAD_FLAG.name, on, unit=None, by="drill", reason=reason, var_dir=var_dir)


def _nurse_patient(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT a.patient_id FROM admission_current a JOIN staff_unit su ON su.unit_id = a.unit_id"
            " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'sjukskoterska' AND a.discharged_at IS NULL"
            " ORDER BY a.patient_id LIMIT 1").fetchone()
    if row is None:
        raise DrillError("the drill's region has no admitted patient on the nurse's unit")
    return int(row[0])


# ---- the drill ----------------------------------------------------------------------------------------
def run(report_dir: Path, say: Say, timeout_s: float = 60) -> BadUpgradeReport:
    from obruten.devtools import seed  # the drill's own synthetic region
    from obruten.record.app import create_app

    report = BadUpgradeReport(started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                              fault=f"flag {BAD_FLAG.name} runs `SELECT pg_sleep(600)` on every patient read "
                                    "(a statement that blocks in the database; pool of 4)")
    note = report.sentences.append
    base = Path(tempfile.mkdtemp(prefix="obruten-bad-upgrade-"))
    pg = PostgresInstance.at(base, _free_port())
    served: _Served | None = None
    load: _Load | None = None
    try:
        pg.init()
        pg.start()
        pg.ensure_database()
        url = pg.url()
        migrations.migrate(url, _previous_release(base / "previous-release"))
        seed.generate(url, 100, seed=16)
        var = base / "var"
        refs = [stores.journal(url), stores.ops(var / "ops" / "ops.sqlite3")]
        note(f"A throw-away region (100 patients) at the previous release on PostgreSQL port {pg.port}.")
        with bad_release():
            t0 = time.monotonic()
            applied = upgrade.apply(refs, var, "drill", say)
            report.upgrade_s = time.monotonic() - t0
            report.snapshot_s = applied.get("snapshot_s")
            note(f"`upgrade apply`: {applied['migrations']['journal']['applied']} with snapshot "
                 f"{applied['snapshot']} in {report.upgrade_s:.2f} s; new flags off: {applied['flags']['new']}.")
            key = load_or_create_key(var / "ops" / "status_key.pem")
            trusted = var / "status_trusted_keys"
            trusted.write_text(key.trusted_line() + "\n")
            cfg = config_mod.load(environ={}, var_dir=var, pool_size=4, status_trusted_keys=trusted)
            app = create_app(cfg, journal_schema.app_url(url, var / "app-password"))
            app.add_middleware(LetterPrinting)
            served = _Served(app)
            patient = _nurse_patient(url)
            load = _Load(served.base, patient, url)
            load.start()
            if _wait(lambda: len(load.acked) >= 5 and load.probe_ok, 30) is None:
                raise DrillError("staff load did not get going within 30 s (no acknowledged writes)")
            note(f"Journal served at {served.base}; staff load running (notes and patient reads on patient {patient}).")

            asyncio.run(_switch(url, True, var, "övning: ny funktion påslagen"))
            t_on = time.monotonic()
            note(f"Flag {BAD_FLAG.name} switched ON region-wide (takes effect within {catalogue.TTL_S:g} s).")
            detected = _wait(lambda: not load.probe_ok, timeout_s)
            if detected is None:
                note(f"The probe never failed within {timeout_s:g} s.")
                return report
            report.detect_s = load.probe_changed - t_on
            t_detect = load.probe_changed
            note(f"Detected: /api/v1/health did not answer within {PROBE_TIMEOUT_S:g} s, {report.detect_s:.2f} s after the switch.")

            store = Store(var / "ops" / "ops.sqlite3")
            try:
                issuer = StatusIssuer(store, var, StatusSettings(key_file=var / "ops" / "status_key.pem"), key)
                tib = Session(user_id=1, username="tib", full_name="Tjänsteman i beredskap", role="tib", units=())
                doc, _ = issuer.issue(tib, mode="storning", headline="Journalen svarar inte – skriv på papper",
                                      routine="Dokumentera på papper/reservkit tills vidare; efterregistrera sedan.",
                                      reason="övning: felaktig uppgradering", now=datetime.now(UTC))
            finally:
                store.close()
            with httpx.Client(base_url=served.base, timeout=5) as c:
                pushed = c.post("/api/v1/status", json={"document": doc.as_dict()})
                served_now = c.get("/api/v1/status").json()
            report.staff_told = pushed.status_code in (202, 200) and (served_now.get("document") or {}).get(
                "version") == doc.version
            report.status_version = doc.version
            report.told_s = time.monotonic() - t_detect
            note(f"Status message v{doc.version} (storning) issued and pushed: the node {'serves it' if report.staff_told else 'did NOT take it'}.")

            asyncio.run(_switch(url, False, var, "övning: återställning, funktionen hänger databasen"))
            cancelled = 0
            last_hang = [t_detect]

            def answering_for_good() -> bool:
                # the app sees the switch within its flag TTL (longer while its pool is pinned): until then
                # new reads hang again, so keep cancelling; recovered = nothing hung and the probe answering
                # for STABLE_S in a row
                nonlocal cancelled
                with psycopg.connect(url, autocommit=True) as admin:
                    row = admin.execute("SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity WHERE query LIKE %s"
                                        " AND pid <> pg_backend_pid()", (f"%{MARKER}%",)).fetchone()
                hung = int(row[0]) if row else 0
                cancelled += hung
                if hung:
                    last_hang[0] = time.monotonic()
                time.sleep(0.25)
                return hung == 0 and load.probe_ok and time.monotonic() - load.probe_changed >= STABLE_S

            recovered = _wait(answering_for_good, timeout_s)
            note(f"Flag OFF; {cancelled} hung statement(s) cancelled (pg_cancel_backend) until the journal answered "
                 f"for {STABLE_S:g} s in a row with nothing hung.")
            if recovered is None:
                note(f"The journal did not answer again within {timeout_s:g} s.")
                return report
            report.recover_s = load.probe_changed - t_detect
            report.last_hang_s = last_hang[0] - t_detect
            note(f"Journal answers again {report.recover_s:.2f} s after detection.")

            t0 = time.monotonic()
            back = upgrade.rollback(refs, var, "drill", say)
            report.schema_rollback_s = time.monotonic() - t0
            note(f"`upgrade rollback`: undid {back['migrations']['journal']['undone']} in {report.schema_rollback_s:.2f} s.")
            before = len(load.acked)
            report.journal_answers_after_rollback = _wait(lambda: len(load.acked) >= before + 3 and load.probe_ok, 20) is not None
            load.finish()
        with psycopg.connect(url) as conn:
            found = {r[0] for r in conn.execute("SELECT body FROM note WHERE body LIKE %s", (f"drill {NAME} note %",))}
        report.writes_acked, report.writes_failed = len(load.acked), load.failed
        report.writes_lost = len([t for t in load.acked if t not in found])
        report.reads_ok, report.reads_failed = load.reads_ok, load.reads_failed
        note(f"Writes: {report.writes_acked} acknowledged, {report.writes_lost} lost, {report.writes_failed} not acknowledged during the hang.")
        return report
    finally:
        if load is not None:
            load.finish()
        if served is not None:
            served.stop()
        pg.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
        js, md = report.write(report_dir)
        say(f"report: {md}")
