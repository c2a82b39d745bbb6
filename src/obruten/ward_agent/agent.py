"""The ward agent's control loop: fetch the newest kit, check it, keep it; report upstream.

Each ``tick`` looks at what the agent holds, asks the journal (then the read copy) for the newest
manifest, decides, and returns one sentence that is logged and shown on the page. A new kit
replaces nothing until its signature, its unit and every file's digest check out, and it must be
newer than the kit held: a refused kit leaves the last good kits untouched. Failures are sorted:
unreachable upstream → keep serving what we have and say so; a kit that does not verify → refuse
it and say why; anything else → log with traceback and keep looping.
"""

from __future__ import annotations

import json
import logging
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from obruten.platform.errors import ObrutenError
from obruten.platform.metrics import Registry
from obruten.platform.signing import SignatureError, TrustedKeys
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import Kit, KitStore, safe_name

log = logging.getLogger("obruten.ward_agent")

OK, UNCHANGED, REFUSED, UNREACHABLE, ERROR = "ok", "unchanged", "refused", "unreachable", "error"


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


class Agent:
    def __init__(self, settings: AgentSettings, metrics: Registry | None = None) -> None:
        self.settings = settings
        self.metrics = metrics or Registry()
        self.trusted = self._load_trusted()
        self.kits = KitStore(settings.kits_dir, keep=settings.keep, trusted=self.trusted, unit=settings.unit)
        self.state = FetchState()

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
        self.metrics.set("obruten_wardkit_age_seconds", float("inf") if age is None else age * 60,
                         "Age of the newest verified kit's data (now - as_of)", unit=unit)
        self.metrics.set("obruten_wardkit_stale", 1 if self.stale() else 0,
                         "1 when the newest kit is older than the alarm threshold (or there is none)", unit=unit)
        self.metrics.set("obruten_wardkit_kits_held", len(self.kits.kits()), "Verified kits kept", unit=unit)
        if self.state.at is not None:
            self.metrics.set("obruten_wardagent_last_fetch_success", 1 if self.state.result in (OK, UNCHANGED) else 0,
                             "1 when the last fetch got or confirmed a good kit", unit=unit)
            self.metrics.set("obruten_wardagent_last_fetch_timestamp_seconds", self.state.at.timestamp(),
                             "When the agent last tried to fetch", unit=unit)

    # ---- one round --------------------------------------------------------------------------------
    def tick(self) -> str:
        """Fetch (and keep, when good) the newest kit, report upstream; return what happened."""
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
        self.metrics.inc("obruten_wardagent_fetches_total", 1, "Fetch attempts by result", result=result,
                         unit=self.settings.unit)
        self.report()
        self.update_metrics()
        (log.info if result in (OK, UNCHANGED) else log.warning)("%s", sentence)
        return sentence

    def _get(self, path: str) -> bytes:
        problems = []
        for base in self.settings.journal_urls:
            request = urllib.request.Request(base.rstrip("/") + path,
                                             headers={"Authorization": f"Bearer {self.settings.token}"})
            try:
                with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as response:
                    data = response.read(self.settings.max_file_bytes + 1)
                if len(data) > self.settings.max_file_bytes:
                    problems.append(f"{base}: file larger than {self.settings.max_file_bytes} bytes")
                    continue
                return data
            except urllib.error.HTTPError as exc:
                detail = exc.read(500).decode(errors="replace")
                problems.append(f"{base}: HTTP {exc.code} {detail}")
            except (urllib.error.URLError, OSError) as exc:
                problems.append(f"{base}: {getattr(exc, 'reason', exc)}")
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
        request = urllib.request.Request(
            self.settings.ops_url.rstrip("/") + "/api/v1/ward-agents/report", data=body, method="POST",
            headers={"Content-Type": "application/json",
                     "Authorization": f"Bearer {self.settings.ops_token or self.settings.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout_s):
                pass
            self.state.reported_at = self.settings.clock()
            sentence = "reported to the ops service"
        except urllib.error.HTTPError as exc:
            sentence = f"ops service refused the report (HTTP {exc.code}); check --ops-token"
        except (urllib.error.URLError, OSError) as exc:
            sentence = f"ops service unreachable ({getattr(exc, 'reason', exc)}); will report next round"
        self.state.report_sentence = sentence
        self.metrics.set("obruten_wardagent_report_success", 1 if sentence.startswith("reported") else 0,
                         "1 when the last report to the ops service went through", unit=self.settings.unit)
        return sentence
