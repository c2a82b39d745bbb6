"""The ward agent's downtime pages: record locally with no journal, show the queue, submit when it is back."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta

import httpx
import pytest

from agent_app import Served, store_path, ward_pc
from metrics_page import value
from obruten.platform.i18n import STOCKHOLM
from pgtools import free_port, wait_for
from postreg_helpers import agent_token, kit_data, nurse_unit, received


@pytest.fixture(scope="module")
def unit(region_url) -> str:
    return nurse_unit(region_url)


@pytest.fixture(scope="module")
def kit(region_url, unit) -> dict:
    return kit_data(region_url, unit)


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def a_patient_with_orders(kit: dict) -> dict:
    return next(p for p in kit["patients"] if p["medications"])


def local(minutes_ago: int) -> str:
    return (datetime.now(STOCKHOLM) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M")


def record(client: httpx.Client, patient: dict, **overrides: str):  # type: ignore[no-untyped-def]
    page = client.get(f"/downtime/patients/{patient['id']}")
    form = {"csrf": csrf(page.text), "order_entry": patient["medications"][0]["entry_id"], "outcome": "given",
            "dose_given": "1 st", "clinical_at": local(30), "author": "sjukskoterska", "password": "demo",
            **overrides}
    return client.post(f"/downtime/patients/{patient['id']}/administrations", data=form)


def test_records_locally_with_no_journal_and_shows_the_queue(tmp_path, region_url, unit, kit) -> None:
    patient = a_patient_with_orders(kit)
    with Served(ward_pc(tmp_path, region_url, unit, f"http://127.0.0.1:{free_port()}")) as client:
        home = client.get("/downtime")
        assert home.status_code == 200 and f"{patient['family_name']}, {patient['given_name']}" in home.text
        assert "Dokumentation under driftstopp" in home.text
        page = client.get(f"/downtime/patients/{patient['id']}")
        assert patient["medications"][0]["drug"] in page.text
        r = record(client, patient)
        assert r.status_code == 303
        assert "Sparat på den här datorn" in client.get(r.headers["location"]).text
        page = client.get(f"/downtime/patients/{patient['id']}")
        form = {"csrf": csrf(page.text), "note_kind": "omvardnad", "title": "", "body": "Sov gott hela natten.",
                "clinical_at": local(10), "author": "sjukskoterska", "password": "demo"}
        assert client.post(f"/downtime/patients/{patient['id']}/notes", data=form).status_code == 303
        queue = client.get("/downtime/queue").text
        assert queue.count("class=\"state-queued\"") == 2
        assert value(client.get("/metrics").text, "obruten_downtime_entries", state="queued", unit=unit) == 2
        r = client.post("/downtime/submit", data={"csrf": csrf(queue)}, follow_redirects=True)
        assert "journal unreachable" in r.text and r.text.count("class=\"state-queued\"") == 2
        assert "Queue to the journal" in client.get("/downtime/queue?lang=en").text
        assert "href=\"/downtime\"" in client.get("/").text  # the kit page links here
    with sqlite3.connect(store_path(tmp_path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        rows = db.execute("SELECT kind, state, author, clinical_at, length(key) FROM downtime_entry").fetchall()
    assert sorted(r[0] for r in rows) == ["medication_administration", "note"]
    assert all(r[1] == "queued" and r[2] == "sjukskoterska" and r[4] == 36 for r in rows)


@pytest.mark.parametrize("overrides, message", [
    ({"author": ""}, "ange ditt användarnamn och lösenord"),
    ({"clinical_at": local(-120)}, "in the future"),
    ({"clinical_at": "igår"}, "YYYY-MM-DD"),
    ({"outcome": "not_given"}, "not_given needs not_given_reason"),
    ({"order_entry": "00000000-0000-4000-8000-000000000000"}, "choose one of the patient"),
])
def test_bad_input_is_explained_and_nothing_is_stored(tmp_path, region_url, unit, kit, overrides, message) -> None:
    patient = a_patient_with_orders(kit)
    with Served(ward_pc(tmp_path, region_url, unit, f"http://127.0.0.1:{free_port()}")) as client:
        r = record(client, patient, **overrides)
        assert r.status_code == 422 and message in r.text
        assert r.text.count('id="form-error"') == 1
    with sqlite3.connect(store_path(tmp_path)) as db:
        assert db.execute("SELECT count(*) FROM downtime_entry").fetchone()[0] == 0


def test_a_form_without_its_token_is_refused(tmp_path, region_url, unit, kit) -> None:
    patient = a_patient_with_orders(kit)
    with Served(ward_pc(tmp_path, region_url, unit, "http://127.0.0.1:9")) as client:
        r = record(client, patient, csrf="forged")
        assert r.status_code == 403


def test_no_kit_says_use_paper(tmp_path, region_url, unit) -> None:
    with Served(ward_pc(tmp_path, region_url, unit, "http://127.0.0.1:9", with_kit=False)) as client:
        assert "Använd papper" in client.get("/downtime").text


def test_submits_when_the_journal_is_back_and_shows_the_verdict(tmp_path, region_url, unit, kit,
                                                                journal_server) -> None:
    patient = a_patient_with_orders(kit)
    token = agent_token(journal_server.var_dir, unit)
    with Served(ward_pc(tmp_path, region_url, unit, journal_server.base, token)) as client:
        assert record(client, patient).status_code == 303
        queue = client.get("/downtime/queue").text
        r = client.post("/downtime/submit", data={"csrf": csrf(queue)}, follow_redirects=True)
        assert "acknowledged: 1 entries (1 new" in r.text
        assert "mottagen, väntar på granskning" in r.text
        key = re.search(r'data-key="([^"]+)"', r.text).group(1)
        assert received(journal_server.db_url, [key]) == 1
        again = client.post("/downtime/submit", data={"csrf": csrf(r.text)}, follow_redirects=True)
        assert "nothing queued" in again.text or "decided" in again.text
    assert received(journal_server.db_url, [key]) == 1


def test_the_background_loop_submits_without_anyone_pressing_a_button(tmp_path, region_url, unit, kit,
                                                                      journal_server) -> None:

    from obruten.ward_agent.web import DowntimeAgent, DowntimeSettings

    app = ward_pc(tmp_path, region_url, unit, journal_server.base)
    app.state.downtime = DowntimeAgent(DowntimeSettings(
        store_path=store_path(tmp_path), unit_id=unit, device_id="avd-pc-loop", journal_url=journal_server.base,
        token=agent_token(journal_server.var_dir, unit), submit_interval=0.2, trusted=lambda: app.state.agent.trusted))
    patient = a_patient_with_orders(kit)
    try:
        with Served(app) as client:
            assert record(client, patient).status_code == 303
            wait_for(lambda: app.state.downtime.store.counts().get("submitted_pending") == 1, 60,
                     "the loop to submit the entry")
            assert "mottagen, väntar på granskning" in client.get("/downtime/queue").text
    finally:
        app.state.downtime.close()
