"""The ward agent's control loop: fetch the newest kit, check it, keep it; report upstream.

Each ``tick`` looks at what the agent holds, asks the journal (then the read copy) for the newest
manifest, decides, and returns one sentence that is logged and shown on the page. A new kit
replaces nothing until its signature, its unit and every file's digest check out, and it must be
newer than the kit held: a refused kit leaves the last good kits untouched. Failures are sorted:
unreachable upstream → keep serving what we have and say so; a kit that does not verify → refuse
it and say why; anything else → log with traceback and keep looping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from obruten.platform import http
from obruten.platform.errors import ObrutenError
from obruten.platform.signing import SignatureError, TrustedKeys
from obruten.ward_agent.metrics import AgentMetrics
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import Kit, KitStore, safe_name

log = logging.getLogger("obruten.ward_agent")

OK, UNCHANGED, REFUSED, UNREACHABLE, ERROR = "ok", "unchanged", "refused", "unreachable", "error"
WATCH_WAIT_S = 25.0     # one long-poll: below common proxy idle timeouts
WATCH_RETRY_S = 5.0     # after a failed long-poll (the periodic fetch goes on meanwhile)


class Unreachable(ObrutenError):
    """No upstream answered."""


@dataclass
class FetchState:
    at: datetime | None = None
    result: str = ""
    sentence: str = "no fetch yet"
    last_ok_at: datetime | None = None
    reported_at: datetime | None = None
    report_sentence: str = ""
    upstream_stamp: str | None = None   # the newest kit upstream named at the last fetch


class Agent:
    def __init__(self, settings: AgentSettings, metrics: AgentMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or AgentMetrics()
        self.trusted = self._load_trusted()
        self.kits = KitStore(settings.kits_dir, keep=settings.keep, trusted=self.trusted, unit=settings.unit)
        self.state = FetchState()
        self._tick_lock = threading.Lock()   # the periodic loop and the watch never fetch at once

    def _keys_stamp(self) -> tuple[int, int]:
        try:
            st = self.settings.trusted_keys_file.stat()
            return st.st_mtime_ns, st.st_size
        except FileNotFoundError:
            return -1, -1

    def reload_trusted(self) -> bool:
        """Re-read the trusted keys file when it changed (key rotation needs no restart)."""
        if self._keys_stamp() == self._keys_seen:
            return False
        self.trusted = self._load_trusted()
        self.kits.trust(self.trusted)
        return True

    def _load_trusted(self) -> TrustedKeys:
        path = self.settings.trusted_keys_file
        self._keys_seen = self._keys_stamp()
        try:
            trusted = TrustedKeys.load(path)
        except SignatureError as exc:
            raise SignatureError(f"{path}: {exc}") from exc
        if len(trusted) == 0:
            log.warning("no trusted keys in %s: every kit will be refused; put the line from "
                        "`obruten wardkit key` there", path)
        return trusted

    # ---- what the page and /metrics show -----------------------------------------------------------
    def age_minutes(self, kit: Kit | None = None) -> float | None:
        kit = kit or self.kits.newest()
        if kit is None:
            return None
        return (self.settings.clock() - kit.as_of).total_seconds() / 60

    def stale(self) -> bool:
        age = self.age_minutes()
        return age is None or age > self.settings.stale_after_min

    def update_metrics(self) -> None:
        unit = self.settings.unit
        newest = self.kits.newest()
        age = self.age_minutes(newest)
        m = self.metrics
        m.kit_age_seconds.labels(unit=unit).set(float("inf") if age is None else age * 60)
        m.kit_stale.labels(unit=unit).set(1 if self.stale() else 0)
        m.kits_held.labels(unit=unit).set(len(self.kits.kits()))
        if self.state.at is not None:
            m.last_fetch_success.labels(unit=unit).set(1 if self.state.result in (OK, UNCHANGED) else 0)
            m.last_fetch_timestamp.labels(unit=unit).set(self.state.at.timestamp())

    # ---- one round --------------------------------------------------------------------------------
    def tick(self) -> str:
        """Fetch (and keep, when good) the newest kit, report upstream; return what happened."""
        with self._tick_lock:
            return self._tick()

    def _tick(self) -> str:
        now = self.settings.clock()
        try:
            self.reload_trusted()
            result, sentence = self._fetch()
        except Unreachable as exc:
            result, sentence = UNREACHABLE, f"upstream unreachable ({exc}); serving the kits held"
        except Exception as exc:  # unknown: log with traceback, keep looping
            log.exception("ward agent fetch failed")
            result, sentence = ERROR, f"fetch failed unexpectedly ({type(exc).__name__}: {exc}); serving the kits held"
        self.state.at, self.state.result, self.state.sentence = now, result, sentence
        if result in (OK, UNCHANGED):
            self.state.last_ok_at = now
        self.metrics.fetches.labels(result=result, unit=self.settings.unit).inc()
        self.report()
        self.update_metrics()
        (log.info if result in (OK, UNCHANGED) else log.warning)("%s", sentence)
        return sentence

    def _get(self, path: str) -> bytes:
        problems = []
        limit = self.settings.max_file_bytes
        for base in self.settings.journal_urls:
            try:
                with (http.client(self.settings.timeout_s, token=self.settings.token) as client,
                      client.stream("GET", base.rstrip("/") + path) as response):
                    if not response.is_success:
                        detail = _head(response, 500).decode(errors="replace")
                        problems.append(f"{base}: HTTP {response.status_code} {detail}")
                        continue
                    data = _head(response, limit + 1)
            except http.FAILURES as exc:
                problems.append(f"{base}: {http.reason(exc)}")
                continue
            if len(data) > limit:
                problems.append(f"{base}: file larger than {limit} bytes")
                continue
            return data
        raise Unreachable("; ".join(problems))

    def _fetch(self) -> tuple[str, str]:
        unit = self.settings.unit
        raw = self._get(f"/api/v1/wardkits/{unit}/latest")
        try:
            manifest = json.loads(raw)
            if manifest.get("format") != mf.FORMAT or not isinstance(manifest.get("body"), dict):
                raise ValueError("not a ward-kit manifest")
            stamp = safe_name(str(manifest["body"]["stamp"]), "kit")
            as_of = datetime.fromisoformat(manifest["body"]["as_of"])
        except (ValueError, KeyError, TypeError) as exc:
            return REFUSED, f"refused the upstream manifest ({exc}); keeping the kits held"
        self.state.upstream_stamp = stamp
        held = self.kits.newest()
        if held is not None and held.stamp == stamp:
            return UNCHANGED, f"newest kit {held.stamp} (data as of {held.as_of.isoformat()}) already held"
        if held is not None and as_of <= held.as_of:
            return UNCHANGED, (f"upstream's newest kit {stamp} is not newer than kit {held.stamp} held "
                               f"(data as of {held.as_of.isoformat()}); keeping it")
        signature = mf.check_signature(manifest, self.trusted)
        if not signature.ok:
            return REFUSED, f"refused kit {stamp}: {signature.message}; {self._keeping(held)}"
        staged = self.kits.staging(stamp)
        try:
            for name in mf.KIT_FILES:
                (staged / name).write_bytes(self._get(f"/api/v1/wardkits/{unit}/{stamp}/{name}"))
            (staged / mf.MANIFEST).write_bytes(raw)
            verdict = mf.check_kit(staged, self.trusted, unit)
            if not verdict.ok:
                return REFUSED, f"refused kit {stamp}: {verdict.message}; {self._keeping(held)}"
            damaged = self.kits.root / stamp   # a copy of this kit that no longer verifies (held is newer or None)
            if damaged.exists():
                shutil.rmtree(damaged)
            kit = self.kits.add(staged, stamp)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
        return OK, f"kept new kit {kit.stamp} ({kit.patients} patients, data as of {kit.as_of.isoformat()})"

    # ---- hearing of a new kit at once (long-poll) -------------------------------------------------
    async def watch_once(self, wait_s: float = WATCH_WAIT_S) -> bool:
        """Ask upstream to answer when a kit other than the one we know of is the newest (the kit
        server's long-poll, ``/latest?after=…&wait=…``); True when it names one. Raises
        ``Unreachable`` when no upstream answers."""
        held = self.kits.newest()
        known = self.state.upstream_stamp or (held.stamp if held else None)
        params: dict[str, str | float] = {"wait": wait_s}
        if known:
            params["after"] = known
        problems = []
        headers = {"Authorization": f"Bearer {self.settings.token}"}
        for base in self.settings.journal_urls:
            url = base.rstrip("/") + f"/api/v1/wardkits/{self.settings.unit}/latest"
            try:
                async with httpx.AsyncClient(timeout=wait_s + self.settings.timeout_s, headers=headers,
                                             verify=ssl.create_default_context()) as client:
                    response = await client.get(url, params=params)
            except http.FAILURES as exc:
                problems.append(f"{base}: {http.reason(exc)}")
                continue
            if not response.is_success:
                problems.append(f"{base}: HTTP {response.status_code}")
                continue
            try:
                stamp = str(response.json()["body"]["stamp"])
            except (ValueError, KeyError, TypeError):
                problems.append(f"{base}: not a ward-kit manifest")
                continue
            return stamp != known
        raise Unreachable("; ".join(problems))

    async def watch(self, wait_s: float = WATCH_WAIT_S, retry_s: float = WATCH_RETRY_S) -> None:
        """Fetch a new kit as soon as upstream has built it; runs until cancelled. The periodic
        ``tick`` stays the fallback (an upstream without the long-poll answers at once: then this
        only repeats the periodic fetch every ``retry_s``)."""
        while True:
            started = time.monotonic()
            try:
                newer = await self.watch_once(wait_s)
            except Unreachable as exc:
                log.info("kit watch: %s; retrying in %.0f s", exc, retry_s)
                newer = False
                await asyncio.sleep(retry_s)
            except Exception:  # keep watching; the periodic fetch goes on regardless
                log.exception("kit watch failed; retrying in %.0f s", retry_s)
                newer = False
                await asyncio.sleep(retry_s)
            if newer:
                await asyncio.to_thread(self.tick)
            elif time.monotonic() - started < 1.0:   # an upstream that does not wait: do not spin
                await asyncio.sleep(retry_s)

    @staticmethod
    def _keeping(held: Kit | None) -> str:
        return f"keeping kit {held.stamp}" if held else "no good kit is held"

    # ---- upstream report ---------------------------------------------------------------------------------
    def report(self) -> str:
        """Tell the ops service we are alive and how old our kit is (best effort)."""
        if not self.settings.ops_url:
            return "no ops service configured"
        newest = self.kits.newest()
        body = json.dumps({"unit": self.settings.unit, "agent": self.settings.agent_name,
                           "kit_generated_at": newest.as_of.isoformat() if newest else None}).encode()
        try:
            with http.client(self.settings.timeout_s, token=self.settings.ops_token or self.settings.token) as client:
                response = client.post(self.settings.ops_url.rstrip("/") + "/api/v1/ward-agents/report", content=body,
                                       headers={"Content-Type": "application/json"})
        except http.FAILURES as exc:
            sentence = f"ops service unreachable ({http.reason(exc)}); will report next round"
        else:
            if response.is_success:
                self.state.reported_at = self.settings.clock()
                sentence = "reported to the ops service"
            else:
                sentence = f"ops service refused the report (HTTP {response.status_code}); check --ops-token"
        self.state.report_sentence = sentence
        self.metrics.report_success.labels(unit=self.settings.unit).set(1 if sentence.startswith("reported") else 0)
        return sentence


def _head(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a streamed body: a runaway upstream cannot fill the memory."""
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])
