"""The ops service: a loop that probes, judges, alarms, escalates and records.

Each ``tick`` takes a snapshot (the probes' findings and the open alarms), decides against it and
returns plain sentences, which are logged and kept for the console. Failures are sorted: a probe
that fails or hangs is a finding; a channel that fails is a retried notification; anything
unexpected in a tick is logged with its traceback and the loop goes on.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from obruten.ops import alarms, audit_anchors, escalation, incidents, notifications, preparedness, timeline
from obruten.ops import oncall as schedule
from obruten.ops.channels import Channel, SmsHttpChannel, SmtpChannel, WebhookChannel
from obruten.ops.clock import Clock, SystemClock, iso
from obruten.ops.findings import Finding
from obruten.ops.metrics import OpsMetrics
from obruten.ops.probe_database import ClusterProbe, JournalWriteProbe, ReadCopyProbe
from obruten.ops.probe_local import BackupProbe, StorageProbe, WardKitProbe
from obruten.ops.probes import Probe, ProbeRunner
from obruten.ops.rules import RuleEngine, Verdict
from obruten.ops.settings import Settings
from obruten.ops.status_service import StatusIssuer
from obruten.ops.store import Store
from obruten.platform.auth import TokenSigner, load_or_create_secret
from obruten.platform.i18n import translator

log = logging.getLogger("obruten.ops")
_STATUS_CODE = {"ok": 0, "slow": 1, "warn": 1, "down": 2, "unknown": 3}


def build_channels(s: Settings) -> dict[str, Channel]:
    channels: dict[str, Channel] = {"webhook": WebhookChannel()}
    if s.smtp_host:
        channels["email"] = SmtpChannel(s.smtp_host, s.smtp_port, s.smtp_from)
    if s.sms_gateway_url:
        channels["sms"] = SmsHttpChannel(s.sms_gateway_url)
    return channels


def build_probes(s: Settings, store: Store) -> list[Probe]:
    probes: list[Probe] = []
    if s.journal_url:
        probes.append(JournalWriteProbe(s.journal_url, slow_ms=s.write_slow_ms, timeout_s=s.write_timeout_s))
    if s.read_copy_url:
        probes.append(ReadCopyProbe(s.read_copy_url, s.read_copy_lag_warn_s, s.read_copy_lag_down_s))
    if s.patroni_urls:
        probes.append(ClusterProbe(list(s.patroni_urls)))
    if s.storage_paths:
        probes.append(StorageProbe(dict(s.storage_paths), s.storage_warn_free_pct, s.storage_down_free_pct))
    if s.backup_probe:
        probes.append(BackupProbe(store, base_max_h=s.backup_max_age_h, verify_max_h=s.restore_verify_max_age_h))
    probes.append(WardKitProbe(store, s.ward_kit_max_age_min, s.ward_agent_silent_min))
    return probes


def build_anchors(s: Settings, store: Store) -> audit_anchors.AnchorTaker | None:
    """Signed anchors of the journal's audit chain every ``audit_anchor_s`` (ADR 0041), when the
    settings name the journal."""
    if not s.journal_url or s.audit_anchor_s <= 0:
        return None
    return audit_anchors.AnchorTaker(s.journal_url, store, s.ops_dir, audit_anchors.signing_key(s.ops_dir),
                                     s.audit_anchor_s)


class OpsService:
    def __init__(self, settings: Settings, *, store: Store | None = None, clock: Clock | None = None,
                 channels: Mapping[str, Channel] | None = None, probes: Iterable[Probe] | None = None,
                 status_issuer: StatusIssuer | None = None,
                 anchors: audit_anchors.AnchorTaker | None = None) -> None:
        self.settings = settings
        self.store = store or Store(settings.store_location)
        self.clock: Clock = clock or SystemClock()
        self.var_dir: Path = settings.var_dir
        self.signer = TokenSigner(load_or_create_secret(settings.ops_dir / "secret_key"), settings.session_hours)
        self.channels = dict(channels) if channels is not None else build_channels(settings)
        self.runner = ProbeRunner(probes if probes is not None else build_probes(settings, self.store))
        self.engine = RuleEngine(settings.rules)
        self.metrics = OpsMetrics()
        self.t = translator(settings.language)
        self.said: deque[tuple[str, str]] = deque(maxlen=300)
        self._lock = threading.Lock()  # one tick at a time
        # issues the signed status message (ADR 0023); the ops app sets one up when none is given
        self.status_issuer = status_issuer
        self.anchors = anchors if anchors is not None else build_anchors(settings, self.store)

    # ---- the loop ------------------------------------------------------------------------------
    def tick(self) -> list[str]:
        """Probe everything, then judge, alarm and escalate."""
        return self.step(self.runner.run(self.clock.now()))

    def step(self, findings: Iterable[Finding]) -> list[str]:
        """Judge the given findings, alarm, escalate, and take in new system events."""
        with self._lock:
            now = self.clock.now()
            findings = list(findings)
            said = self._save_findings(findings, now)
            for verdict in self.engine.evaluate(findings, now):
                said += self._apply(verdict, now)
            said += self.escalate(now)
            taken = timeline.ingest(self.store, self.var_dir)
            if taken:
                said.append(f"took in {taken} system events")
            self._gauges(now)
            return self._say(said, now)

    def anchor(self) -> list[str]:
        """Take a signed anchor of the journal's audit chain when one is due."""
        if self.anchors is None:
            return []
        now = self.clock.now()
        return self._say(self.anchors.run(now), now)

    def deliver(self) -> list[str]:
        now = self.clock.now()
        said = notifications.deliver_due(self.store, self.channels, now)
        for sentence in said:
            result = "sent" if sentence.startswith("sent") else "cancelled" if sentence.startswith("cancel") else "failed"
            self.metrics.notifications.labels(result=result).inc()
        return self._say(said, now)

    def run(self, stop: threading.Event) -> None:
        """Tick, deliver and anchor until ``stop`` is set (three threads: a slow SMTP server or a
        journal that does not answer the anchor's query never delays detection)."""
        def every_second(step: Callable[[], object]) -> Callable[[], None]:
            def loop() -> None:
                while not stop.wait(1.0):
                    self._guarded(step)
            return loop

        helpers = [threading.Thread(target=every_second(self.deliver), name="ops-deliver", daemon=True),
                   threading.Thread(target=every_second(self.anchor), name="ops-anchor", daemon=True)]
        for helper in helpers:
            helper.start()
        while not stop.is_set():
            self._guarded(self.tick)
            stop.wait(self.settings.tick_s)
        for helper in helpers:
            helper.join(timeout=15)

    def _guarded(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:
            log.exception("ops loop step failed; going on with the next one")

    # ---- decisions -----------------------------------------------------------------------------
    def _apply(self, verdict: Verdict, now: datetime) -> list[str]:
        rule = verdict.rule
        if not verdict.firing:
            row = self.store.one("SELECT id FROM alarm WHERE dedup_key = ? AND state <> 'resolved'", (verdict.key,))
            if row is None:
                return []
            alarms.resolve(self.store, self.var_dir, row["id"], alarms.SYSTEM, now, "condition cleared")
            said = [f"resolved alarm {row['id']} ({verdict.key}): condition cleared"]
            for withdrawn in preparedness.withdraw_resolved(self.store, self.var_dir, now):
                said.append(f"withdrew preparedness proposal {withdrawn}: the alarm behind it resolved")
            return said
        alarm, new = alarms.fire(self.store, self.var_dir, rule=rule.name, key=verdict.key, severity=rule.severity,
                                 summary=rule.summary(verdict.finding, verdict.since), chain=rule.chain, now=now,
                                 daytime_only=rule.daytime_only, detail=verdict.finding.detail)
        if not new:
            return []
        said = [f"fired alarm {alarm.id} ({rule.severity}, {verdict.key}): {alarm.summary}"]
        if rule.incident and rule.severity == "critical":
            incident_id, opened = incidents.for_alarm(self.store, self.var_dir, alarm, rule, now)
            said.append(f"{'opened' if opened else 'joined'} incident {incident_id} for alarm {alarm.id}")
            if rule.propose_level:
                proposal = preparedness.propose(self.store, self.var_dir, rule.propose_level, incident_id=incident_id,
                                                reason=f"Incident {incident_id}: {alarm.summary}", now=now)
                if proposal:
                    said.append(f"proposed {rule.propose_level} to the officer on duty (proposal {proposal})")
        return said

    def escalate(self, now: datetime) -> list[str]:
        said = []
        s = self.settings
        for alarm in alarms.active(self.store):
            chain = s.chains.get(alarm.chain)
            if chain is None or alarm.state != "firing":
                continue
            decision = escalation.decide(
                alarm, chain, now, staffed=lambda role: bool(schedule.holders(self.store, role, now)),
                daytime=lambda t: escalation.is_daytime(t, s.daytime_start_hour, s.daytime_end_hour))
            if decision.action != "notify":
                continue
            holders = schedule.holders(self.store, decision.role, now) if decision.role else []
            queued = notifications.enqueue_step(self.store, alarm, decision.step, decision.role, holders,
                                                channels=self.channels, webhook_urls=list(s.webhook_urls),
                                                signer=self.signer, public_url=s.base_url, t=self.t, now=now)
            alarms.set_step(self.store, alarm.id, decision.step, decision.round, decision.until, now,
                            decision.sentence)
            kind = "alarm.notified" if (decision.step, decision.round) == (0, 0) else "alarm.escalated"
            title = schedule.ROLES.get(decision.role or "", "ingen roll")
            # only what is true now: messages queued (the delivery records "skickat" when sent), or why none
            if queued:
                who = ", ".join(h.full_name for h in holders) or "-"
                line = f"Larm {alarm.id}: {queued} meddelanden till {title} ({who}) köade för utskick"
            else:
                why = notifications.nothing_sent_because(decision.role, holders, self.channels, list(s.webhook_urls))
                line = f"Larm {alarm.id}: inga meddelanden skickades till {title}: {why}"
            timeline.record(self.store, self.var_dir, kind, line, now, alarm.incident_id, alarm_id=alarm.id,
                            role=decision.role, queued=queued)
            said.append(decision.sentence)
        return said

    def acknowledge(self, alarm_id: int, who: str, via: str) -> bool:
        with self._lock:
            done = alarms.acknowledge(self.store, self.var_dir, alarm_id, who, self.clock.now(), via)
        if done:
            self._say([f"alarm {alarm_id} acknowledged by {who} via {via}; its chain stops"], self.clock.now())
        return done

    # ---- bookkeeping ---------------------------------------------------------------------------
    def _save_findings(self, findings: list[Finding], now: datetime) -> list[str]:
        with self.store.tx() as db:
            for f in findings:
                db.execute("INSERT INTO finding (probe, target, status, value, detail, at) VALUES (?, ?, ?, ?, ?, ?) "
                           "ON CONFLICT (probe, target) DO UPDATE SET status = excluded.status, value = excluded.value, "
                           "detail = excluded.detail, at = excluded.at",
                           (f.probe, f.target, f.status, f.value, f.detail, iso(f.at)))
        for f in findings:
            self.metrics.probe_status.labels(probe=f.probe, target=f.target).set(_STATUS_CODE[f.status])
            if f.value is not None:
                self.metrics.probe_value.labels(probe=f.probe, target=f.target).set(f.value)
            if f.probe == "journal_write" and f.value is not None:
                self.metrics.journal_write_latency_ms.set(f.value)
            if f.probe == "read_copy" and f.value is not None and f.status != "down":
                self.metrics.read_copy_lag_seconds.set(f.value)
        return []

    def _gauges(self, now: datetime) -> None:
        counts = {sev: 0 for sev in ("critical", "major", "minor")}
        for alarm in alarms.active(self.store):
            if alarm.state == "firing":
                counts[alarm.severity] += 1
        for sev, n in counts.items():
            self.metrics.alarms_firing.labels(severity=sev).set(n)
        level = preparedness.current(self.store)
        self.metrics.preparedness_level.set(level.rank)
        open_incidents = [i for i in incidents.listing(self.store) if i.state in ("open", "mitigated")]
        self.metrics.incidents_open.set(len(open_incidents))
        self.metrics.last_tick.set(now.timestamp())

    def _say(self, sentences: list[str], now: datetime) -> list[str]:
        for sentence in sentences:
            log.info("%s", sentence)
            self.said.append((iso(now), sentence))
        return sentences
