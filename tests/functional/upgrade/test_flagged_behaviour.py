"""A flag really gates its behaviour: after an upgrade (flag off) an order without substance and
form is taken as before; with ``structured_orders`` switched on for the unit it is refused naming
the fields, within the cache's refresh; the allergy check applies either way (never flagged)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from obruten.platform import config as config_mod
from obruten.platform.pgserver import PostgresInstance
from obruten.record import flags
from obruten.record.app import create_app
from obruten.record.schema import app_url
from pgtools import Served, seeded_database


@pytest.fixture
def quick_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flags, "TTL_S", 0.2)


def _login(base: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=15)
    r = client.post("/api/v1/login", json={"username": user, "password": "demo"})
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {r.json()['token']}"
    return client


def test_structured_orders_is_off_after_an_upgrade_and_on_where_switched(pg: PostgresInstance, tmp_path: Path,
                                                                         quick_flags: None) -> None:
    url = seeded_database(pg, "flag_orders", patients=100)
    cfg = config_mod.load(environ={}, var_dir=tmp_path, secret_key="test-secret-" + "x" * 40)
    served = Served(create_app(cfg, app_url(url, tmp_path / "app-password")), what="the journal")
    doctor = _login(served.base, "lakare")
    try:
        with psycopg.connect(url) as conn:
            patient, unit = conn.execute(
                "SELECT a.patient_id, a.unit_id FROM admission_current a JOIN staff_unit su ON su.unit_id = a.unit_id"
                " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare' AND a.discharged_at IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM warning_current w WHERE w.patient_id = a.patient_id)"
                " ORDER BY 1 LIMIT 1").fetchone()  # type: ignore[misc]
        start = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        plain = {"drug": "Alvedon", "strength": "500 mg", "dose": "1 g", "route": "po", "frequency": "x 2",
                 "times": ["08:00", "20:00"], "start_at": start}
        before = doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=plain)
        assert before.status_code == 201, before.text  # off: the previous release's order is taken

        async def on() -> None:
            async with await psycopg.AsyncConnection.connect(url) as conn:
                await flags.switch(conn, flags.STRUCTURED_ORDERS, True, unit=unit, by="sysf1", reason="pilot")
        asyncio.run(on())
        deadline = time.monotonic() + 10
        while True:  # the app re-reads the switches every TTL_S
            after = doctor.post(f"/api/v1/patients/{patient}/medication-orders", json=plain)
            if after.status_code != 201 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert after.status_code == 422, after.text
        problems = " ".join(map(str, after.json()["problems"]))
        assert "substance" in problems and "form" in problems, after.json()
        full = doctor.post(f"/api/v1/patients/{patient}/medication-orders",
                           json={**plain, "substance": "paracetamol", "form": "tablett"})
        assert full.status_code == 201, full.text
    finally:
        doctor.close()
        served.stop()


def test_admins_switch_flags_on_the_flags_page_with_a_reason(pg: PostgresInstance, tmp_path: Path) -> None:
    from pgtools import login

    url = seeded_database(pg, "flag_page", patients=100)
    cfg = config_mod.load(environ={}, var_dir=tmp_path, secret_key="test-secret-" + "x" * 40)
    served = Served(create_app(cfg, app_url(url, tmp_path / "app-password")), what="the journal")
    admin, nurse = login(served.base, "admin", app="web"), login(served.base, "sjukskoterska", app="web")
    try:
        page = admin.get("/admin/flags")
        assert page.status_code == 200 and all(f.name in page.text and f.sv in page.text for f in flags.CATALOGUE)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        admin.csrf = found.group(1)
        refused = admin.post("/admin/flags", data={"csrf": admin.csrf, "flag": "kit_mar_grid", "on": "1", "reason": ""})
        assert refused.status_code == 422 and "Skriv varför" in refused.text  # said why (in Swedish), nothing switched
        done = admin.post("/admin/flags", data={"csrf": admin.csrf, "flag": "kit_mar_grid", "on": "1",
                                                "reason": "pilot på avdelningen"}, follow_redirects=True)
        assert done.status_code == 200 and "pilot på avdelningen" in done.text
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT flag, enabled, switched_by FROM feature_flag_switch").fetchall()
            audited = conn.execute("SELECT count(*) FROM audit_event WHERE action = 'flag_switch'").fetchone()
        assert rows == [("kit_mar_grid", True, "admin")] and audited is not None and audited[0] == 1
        assert nurse.get("/admin/flags").status_code == 403
    finally:
        admin.close()
        nurse.close()
        served.stop()


def test_the_kits_signing_grid_follows_kit_mar_grid_for_the_unit(pg: PostgresInstance, tmp_path: Path) -> None:
    import pypdf

    from obruten.wardkit import build

    url = seeded_database(pg, "flag_kit", patients=100)
    with psycopg.connect(url) as conn:
        unit = conn.execute("SELECT a.unit_id FROM admission_current a JOIN medication_order_current m"
                            " ON m.patient_id = a.patient_id WHERE a.discharged_at IS NULL AND NOT m.as_needed"
                            " ORDER BY 1 LIMIT 1").fetchone()[0]  # type: ignore[index]

    def text(on: bool | None) -> str:
        async def run() -> Path:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                if on is not None:
                    await flags.switch(conn, build.MAR_GRID, on, unit=unit, by="sysf1", reason="prov")
                var = tmp_path / f"var-{on}"
                return (await build.build_unit(conn, unit, var, build.signing_key(var))).path
        pdf = asyncio.run(run()) / "kit.pdf"
        return " ".join(page.extract_text() for page in pypdf.PdfReader(pdf).pages)

    off = text(None)  # after an upgrade: the release before's medication table
    assert "Läkemedelslista" in off and "Sign:" not in off
    grid = text(True)
    assert "Sign:" in grid and "Läkemedelslista" not in grid
    assert "Sign:" not in text(False)
