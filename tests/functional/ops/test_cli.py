"""``obruten ops serve`` in a subprocess (as ``make demo`` starts it), and the settings file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from obruten.ops import settings as settings_mod
from obruten.ops.cli import spawn
from pgtools import free_port


def test_spawned_service_answers_and_stops_on_sigint(tmp_path: Path) -> None:
    port = free_port()
    proc: subprocess.Popen[bytes] = spawn(tmp_path / "var", port=port)  # type: ignore[assignment]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()["ok"]:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "var/log/ops.log").read_text()
            assert time.monotonic() < deadline, "ops service did not answer within 30 s"
            time.sleep(0.2)
        token = httpx.post(f"http://127.0.0.1:{port}/api/v1/session",
                           json={"username": "tib", "password": "demo"}).json()["token"]
        assert token
        assert "obruten_ops_last_tick_timestamp_seconds" in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (tmp_path / "var/ops/ops.sqlite3").exists()


def test_settings_file_overrides_rules_and_chains(tmp_path: Path) -> None:
    file = tmp_path / "ops.toml"
    file.write_text('''
journal_url = "postgresql://u:p@127.0.0.1:5432/obruten"
write_slow_ms = 250
webhook_urls = ["http://127.0.0.1:9/hook"]
[chains.journal]
steps = [["it1", 2], ["tib", 3]]
[[rules]]
name = "journal-write"
probe = "journal_write"
statuses = ["slow", "down"]
for_s = 10
severity = "critical"
chain = "journal"
title = "Skrivvägen: {detail}"
incident = true
classification = 1
propose_level = "stabsläge"
[classification]
4 = "Ingen påverkan"
''')
    s = settings_mod.load(file=file, environ={}, port=8123)
    assert s.write_slow_ms == 250 and s.port == 8123 and s.webhook_urls == ("http://127.0.0.1:9/hook",)
    assert [st.role for st in s.chains["journal"].steps] == ["it1", "tib"]
    rule = next(r for r in s.rules if r.name == "journal-write")
    assert rule.for_s == 10 and rule.statuses == ("slow", "down")
    assert s.classification[4] == "Ingen påverkan" and s.classification[1].startswith("Kritisk")
    file.write_text('[chains.x]\nsteps = [["nobody", 1]]\n')
    with pytest.raises(settings_mod.SettingsError, match="unknown role"):
        settings_mod.load(file=file, environ={})
