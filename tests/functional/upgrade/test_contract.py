"""Rolling upgrade: a ward agent one release behind keeps working against an upgraded journal.

``contract/ward_agent-2026.12.json`` holds the requests the ward agent of release 2026.12 makes
(submit a batch, ask for states, fetch the staff verifier, ask for reserve numbers, register a
reserve patient, fetch its unit's kit, watch the journal's health), recorded from that release's
own code with the real agent classes, with the answers' shapes. The test replays them against this
code's journal (every migration applied) and requires the same status and every recorded field, of
a compatible type, in each answer (new fields are allowed: the contract only grows).

Record again when a release ships (its agent's requests become the fixture the next release must
honour): ``OBRUTEN_RECORD_CONTRACT=1 pytest tests/functional/upgrade/test_contract.py``.

A read copy one release behind is a streaming standby of the upgraded database running the older
code: it keeps working because forward migrations only add (checked below: no DROP or RENAME in a
forward migration; removing something takes two releases, the first of which stops using it).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from obruten.platform import migrations
from obruten.postreg.models import DowntimeEntry
from obruten.ward_agent.downtime_store import DowntimeStore
from obruten.ward_agent.downtime_submit import Submitter
from postreg_helpers import administration, agent_token, note, nurse_unit, patient_with_order

FIXTURE = Path(__file__).parent / "contract" / "ward_agent-2026.12.json"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KEYED = re.compile(r"^[0-9a-f]{8}-[0-9a-f-]{4,}$")  # objects keyed by entry key or reservnummer
TIME_KEYS = ("clinical_at", "recorded_at", "registered_at", "sent_at", "at")


def shape(value: Any) -> Any:
    if isinstance(value, dict) and value and all(KEYED.match(k) for k in value):  # keyed by entry: one shape
        return {"<key>": shape(next(iter(value.values())))}
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "number" if isinstance(value, int | float) and not isinstance(value, bool) else type(value).__name__


def missing(recorded: Any, now: Any, where: str = "") -> list[str]:
    """What of the recorded shape the answer no longer has (None/null was and stays any type)."""
    if recorded == "NoneType" or now == "NoneType":
        return []
    if isinstance(recorded, dict):
        if not isinstance(now, dict):
            return [f"{where or '.'}: was an object"]
        return [m for k, v in recorded.items() for m in
                ([f"{where}.{k}: gone"] if k not in now else missing(v, now[k], f"{where}.{k}"))]
    if isinstance(recorded, list):
        if not isinstance(now, list):
            return [f"{where}: was a list"]
        return missing(recorded[0], now[0], f"{where}[]") if recorded and now else []
    return [] if recorded == now else [f"{where}: was {recorded}, now {now}"]


class Templater:
    """Recorded values that differ per database or per run become placeholders, and back."""

    def __init__(self, unit: str, patient: int, order: str) -> None:
        self.values = {"{unit}": unit, "{patient}": patient, "{order}": order}
        self.uuids: dict[str, str] = {}

    def out(self, value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            return {k: self.out(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.out(v, key) for v in value]
        if key in TIME_KEYS and isinstance(value, str):
            return "{time}"
        for name, v in self.values.items():
            if value == v and (key.endswith(("patient_id", "unit_id", "order_entry", "order_id", "reserve_number")) or name == "{unit}"):
                return name
        if isinstance(value, str) and UUID.match(value):
            return self.uuids.setdefault(value, f"{{uuid{len(self.uuids)}}}")
        return value

    def learn(self, path: str, answer: Any) -> None:
        """Values the journal hands out that later requests use (the reservnummer block's first number)."""
        if path.endswith("/reserve-blocks") and isinstance(answer, dict) and answer.get("numbers"):
            self.values["{reserve}"] = answer["numbers"][0]

    def back(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.back(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.back(v) for v in value]
        if value == "{time}":
            return (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
        if isinstance(value, str) and value.startswith("{uuid"):
            return self.uuids.setdefault(value, str(uuid.uuid4()))
        if isinstance(value, str) and value in self.values:
            return self.values[value]
        if isinstance(value, str):
            return value.replace("{unit}", str(self.values["{unit}"]))
        return value


def _entries(patient: int, order: str) -> list[DowntimeEntry]:
    return [DowntimeEntry.model_validate(e) for e in (
        note(patient, "Kontraktsanteckning", datetime.now(UTC) - timedelta(hours=1)),
        administration(patient, order, datetime.now(UTC) - timedelta(hours=1)))]


def record(server: Any, tmp_path: Path) -> list[dict[str, Any]]:
    """Run the agent's real code against the journal and keep every exchange, templated."""
    unit = nurse_unit(server.db_url)
    patient, order, _ = patient_with_order(server.db_url, unit)
    t = Templater(unit, patient, order)
    exchanges: list[dict[str, Any]] = []

    def keep(response: httpx.Response) -> None:
        response.read()
        request = response.request
        body = json.loads(request.content) if request.content else None
        try:
            answer = response.json()
        except ValueError:
            answer = None
        exchanges.append({"method": request.method, "path": request.url.path.replace(unit, "{unit}"),
                          "params": t.out(dict(request.url.params)), "json": t.out(body),
                          "status": response.status_code, "answer": shape(answer)})
        t.learn(request.url.path, answer)

    store = DowntimeStore(tmp_path / "agent.sqlite3", unit, "pc-contract")
    token = agent_token(server.var_dir, unit)
    submitter = Submitter(store, server.base, token)
    submitter._client.event_hooks["response"].append(keep)
    try:
        store.add([(e, "Testperson", "kontrakt") for e in _entries(patient, order)])
        submitter.drain()
        submitter.fetch_verifier()
        submitter.ensure_reserve_numbers()
        store.register_reserve_patient("Kontrakt", "Testperson", "X", "1950-01-01", "sjukskoterska")
        submitter.register_reserve_patients()
        for path in (f"/api/v1/wardkits/{unit}/latest", "/api/v1/health"):
            submitter._client.get(path)
    finally:
        submitter.close()
        store.close()
    return exchanges


def test_the_previous_releases_ward_agent_requests_still_work(journal_server: Any, tmp_path: Path) -> None:
    if os.environ.get("OBRUTEN_RECORD_CONTRACT"):
        FIXTURE.parent.mkdir(exist_ok=True)
        FIXTURE.write_text(json.dumps(record(journal_server, tmp_path), indent=2, ensure_ascii=False) + "\n")
    recorded = json.loads(FIXTURE.read_text())
    assert {(x["method"], x["path"]) for x in recorded} >= {
        ("POST", "/api/v1/postreg/batches"), ("GET", "/api/v1/postreg/verifier"),
        ("POST", "/api/v1/postreg/reserve-blocks"), ("GET", "/api/v1/health")}
    unit = nurse_unit(journal_server.db_url)
    patient, order, _ = patient_with_order(journal_server.db_url, unit)
    t = Templater(unit, patient, order)
    broken = []
    with httpx.Client(base_url=journal_server.base, timeout=15,
                      headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"}) as client:
        for x in recorded:
            r = client.request(x["method"], t.back(x["path"]), params=t.back(x["params"]), json=t.back(x["json"]))
            try:
                answer = r.json()
            except ValueError:
                answer = None
            t.learn(x["path"], answer)
            if r.status_code != x["status"]:
                broken.append(f"{x['method']} {x['path']}: {r.status_code}, was {x['status']} ({r.text[:200]})")
            broken += [f"{x['method']} {x['path']} {m}" for m in missing(x["answer"], shape(answer))]
    assert not broken, "\n".join(broken)


def test_forward_migrations_only_add_so_the_older_release_keeps_reading() -> None:
    destructive = re.compile(r"\b(DROP\s+(TABLE|COLUMN|VIEW)|RENAME|ALTER\s+COLUMN\s+\w+\s+(SET\s+DATA\s+)?TYPE)\b",
                             re.IGNORECASE)
    for package in ("obruten.record.schema", "obruten.ops.schema", "obruten.ward_agent.schema"):
        for m in migrations.load(package):
            code = "\n".join(line.split("--")[0] for line in m.up.splitlines())
            assert not destructive.search(code), f"{package} {m.name} removes or renames: split it over two releases"
