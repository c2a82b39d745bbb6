"""Verified authors, reservnummer and the journal's state on the ward PC (issue 15, ADR 0049)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import threading
from datetime import datetime, timedelta

import httpx
import psycopg
import pytest

from agent_app import Served, store_path, ward_pc
from obruten.platform.i18n import STOCKHOLM
from obruten.postreg import reserve
from obruten.ward_agent import identity
from pgtools import free_port, login
from postreg_helpers import agent_token, batch, kit_data, note, nurse_unit


@pytest.fixture(scope="module")
def unit(region_url) -> str:
    return nurse_unit(region_url)


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def write_note(client: httpx.Client, patient: int, password: str = "demo", author: str = "sjukskoterska",
               body: str = "Sov gott.") -> httpx.Response:
    page = client.get(f"/downtime/patients/{patient}")
    at = (datetime.now(STOCKHOLM) - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")
    return client.post(f"/downtime/patients/{patient}/notes", data={
        "csrf": csrf(page.text), "note_kind": "omvardnad", "title": "", "body": body, "clinical_at": at,
        "author": author, "password": password})


def trust(app, line: str) -> None:  # type: ignore[no-untyped-def]
    """Add a key to the agent's trusted keys (beside the test kit's key)."""
    with app.state.settings.trusted_keys_file.open("a") as fh:
        fh.write(line + "\n")


def entries(tmp_path) -> list[tuple[str, str]]:
    with sqlite3.connect(store_path(tmp_path)) as db:
        return db.execute("SELECT author, kind FROM downtime_entry").fetchall()


def test_wrong_password_is_refused_and_repeated_guessing_locks_the_username(tmp_path, region_url, unit) -> None:
    patient = kit_data(region_url, unit)["patients"][0]["id"]
    with Served(ward_pc(tmp_path, region_url, unit, f"http://127.0.0.1:{free_port()}")) as client:
        r = write_note(client, patient, password="fel")
        assert r.status_code == 422 and "fel användarnamn eller lösenord; inget sparades" in r.text
        r = write_note(client, patient, author="nisse")  # anyone's string is no author any more
        assert r.status_code == 422 and "fel användarnamn eller lösenord" in r.text
        for _ in range(identity.MAX_FAILURES - 1):
            write_note(client, patient, password="fel")
        r = write_note(client, patient)  # now even the right password waits out the lock
        assert r.status_code == 422 and "spärrat på den här datorn" in r.text
    assert entries(tmp_path) == []


def test_nothing_about_the_author_is_remembered_after_an_entry(tmp_path, region_url, unit) -> None:
    patient = kit_data(region_url, unit)["patients"][0]["id"]
    with Served(ward_pc(tmp_path, region_url, unit, f"http://127.0.0.1:{free_port()}")) as client:
        r = write_note(client, patient)  # the journal is unreachable: checked offline against the verifier
        assert r.status_code == 303, r.text
        assert set(r.cookies.keys()) <= {"downtime_csrf"}
        after = client.get(r.headers["location"])
        assert "Signerad av" in after.text and "sjukskoterska" not in client.cookies.values()
        form = re.search(r'<form[^>]+id="note-form".*?</form>', after.text, re.S).group(0)
        assert 'name="author" value=""' in form and 'name="password" value=""' in form
        # the next person writes with no name filled in and cannot save without their own password
        page = client.get(f"/downtime/patients/{patient}")
        r = client.post(f"/downtime/patients/{patient}/notes", data={
            "csrf": csrf(page.text), "note_kind": "omvardnad", "body": "x",
            "clinical_at": datetime.now(STOCKHOLM).strftime("%Y-%m-%dT%H:%M")})
        assert r.status_code == 422
    assert entries(tmp_path) == [("sjukskoterska", "note")]


def test_the_verifier_fetched_from_the_journal_verifies_offline(tmp_path, region_url, unit, journal_server) -> None:
    patient = kit_data(region_url, unit)["patients"][0]["id"]
    token = agent_token(journal_server.var_dir, unit)
    # the agent trusts the journal's kit key, and gets the verifier from the journal itself
    from obruten.wardkit.build import signing_key
    online = ward_pc(tmp_path, region_url, unit, journal_server.base, token, with_verifier=False)
    trust(online, signing_key(journal_server.var_dir).trusted_line())
    with Served(online) as client:
        assert write_note(client, patient).status_code == 422  # no verifier yet: cannot check anyone
        said = online.state.downtime.sync()
        assert "journal up" in said and "kept the staff verifier" in said, said
        assert "new reservnummer block" in said
    with psycopg.connect(region_url) as c:
        assert c.execute("SELECT accounts FROM verifier_export WHERE unit_id = %s ORDER BY id DESC LIMIT 1",
                         (unit,)).fetchone()[0] >= 1
    # the same PC, the journal gone: passwords are still checked, locally
    (tmp_path / "offline").mkdir()
    offline = ward_pc(tmp_path / "offline", region_url, unit, f"http://127.0.0.1:{free_port()}", token,
                      with_verifier=False)
    trust(offline, signing_key(journal_server.var_dir).trusted_line())
    shutil.copy(online.state.settings.state_dir / "staff_verifier.json", offline.state.settings.state_dir)
    with Served(offline) as client:
        assert "journal down" in offline.state.downtime.sync()
        assert write_note(client, patient, password="fel").status_code == 422
        assert write_note(client, patient).status_code == 303


def test_two_agents_reservnummer_ranges_never_collide(journal_server, region_url, unit) -> None:
    def allocate(device: str, out: list) -> None:
        with httpx.Client(base_url=journal_server.base, timeout=30,
                          headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"}) as c:
            for _ in range(5):
                r = c.post("/api/v1/postreg/reserve-blocks", json={"unit_id": unit, "device_id": device})
                assert r.status_code == 201, r.text
                out.append(r.json())

    got: dict[str, list] = {"pc-a": [], "pc-b": []}
    threads = [threading.Thread(target=allocate, args=(d, got[d])) for d in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = {d: {reserve.make(s) for b in blocks for s in range(b["first"], b["first"] + b["size"])}
               for d, blocks in got.items()}
    assert len(numbers["pc-a"]) == len(numbers["pc-b"]) == 5 * reserve.BLOCK_SIZE
    assert not numbers["pc-a"] & numbers["pc-b"]
    assert all(reserve.is_reserve(n) for n in numbers["pc-a"])
    with psycopg.connect(region_url) as c, pytest.raises(psycopg.errors.ExclusionViolation):  # the database refuses
        c.execute("INSERT INTO reserve_number_block (unit_id, device_id, first_serial, size) VALUES (%s, 'pc-c', %s, 10)",
                  (unit, got["pc-a"][0]["first"] + 3))


def test_post_registration_signs_as_the_author_with_the_confirmer_beside_it(journal_server, region_url, unit) -> None:
    with psycopg.connect(region_url) as c:
        author = c.execute(
            "SELECT s.username FROM staff s JOIN staff_unit su ON su.staff_id = s.id WHERE su.unit_id = %s"
            " AND s.role IN ('nurse', 'physician') AND s.username <> 'sjukskoterska' AND s.active ORDER BY 1 LIMIT 1",
            (unit,)).fetchone()[0]
    patient = kit_data(region_url, unit)["patients"][-1]["id"]
    entry = note(patient, "Oroligt vid 03; lugnades med samtal.", author=author)
    with httpx.Client(base_url=journal_server.base, timeout=30,
                      headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"}) as c:
        assert c.post("/api/v1/postreg/batches", json=batch(unit, [entry])).status_code == 201
    with psycopg.connect(region_url) as c:
        entry_id = c.execute("SELECT id FROM postreg_entry WHERE idempotency_key = %s", (entry["key"],)).fetchone()[0]
    client = login(journal_server.base, "sjukskoterska", app="web", timeout=20)
    try:
        page = client.get(f"/postreg/{unit}?patient={patient}")
        token = csrf(page.text)
        r = client.post(f"/postreg/{unit}/entries/{entry_id}/confirm", data={"csrf": token, "patient": str(patient),
                                                                             "duplicates_checked": "on"},
                        follow_redirects=True)
        assert r.status_code == 200 and "registrerad i journalen" in r.text
        row = re.search(rf'<tr id="postreg-decided-{entry_id}">.*?</tr>', r.text, re.S).group(0)
        with psycopg.connect(region_url) as c:
            names = dict(c.execute("SELECT username, full_name FROM staff WHERE username IN (%s, 'sjukskoterska')",
                                   (author,)).fetchall())
            signed_by, registered_by, at = c.execute(
                "SELECT n.signed_by, r.registered_by, r.registered_at FROM postreg_registration r"
                " JOIN note n ON n.entry_id = r.entry_id AND n.version = 1 WHERE r.postreg_entry = %s",
                (entry_id,)).fetchone()
            ids = dict(c.execute("SELECT username, id FROM staff WHERE username IN (%s, 'sjukskoterska')",
                                 (author,)).fetchall())
        assert signed_by == ids[author] and registered_by == ids["sjukskoterska"]  # signed by the author
        assert names[author] in re.search(r'class="author">(.*?)</td>', row, re.S).group(1)
        confirmer = re.search(r'class="confirmer">(.*?)</td>', row, re.S).group(1)
        assert names["sjukskoterska"] in confirmer and at.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M") in confirmer
        overview = client.get(f"/patients/{patient}").text
        assert f"Dokumenterad under driftstopp av {author}; bekräftad av {names['sjukskoterska']}" in overview
    finally:
        client.close()
