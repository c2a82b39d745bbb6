"""14.8: a write let through under a reserve routine by an override is marked on the entry itself:
its history (page and API) says "skriven under reservrutin, med åsidosättande: <reason>", linked to
the override's audit event; the marking cannot be changed or removed; an ordinary write is unmarked."""

from __future__ import annotations

import psycopg
import pytest

from .test_write_guard import note, patient_on


def test_an_override_write_is_marked_on_its_entry(journal_server, publisher, login) -> None:  # type: ignore[no-untyped-def]
    doctor = login(journal_server.base, "lakare")
    unit = doctor.units[0]
    patient = patient_on(doctor, unit)
    publisher.push("reservrutin", headline="Journalen nere", routine="Pappersjournal RR-1")
    reason = "Akut sepsis, ingen blankett"
    r = doctor.post(f"/api/v1/patients/{patient}/notes", json=note("Under reservrutin med åsidosättande"),
                    headers={"X-Override-Reason": reason.replace("å", "%C3%A5")})
    assert r.status_code == 201, r.text
    entry = r.json()["entry_id"]
    publisher.push("normal")
    plain = doctor.post(f"/api/v1/patients/{patient}/notes", json=note("Vanlig anteckning"))
    assert plain.status_code == 201, plain.text

    history = doctor.get(f"/api/v1/entries/note/{entry}/history")
    assert history.status_code == 200, history.text
    marked = history.json()[0]["override"] if isinstance(history.json(), list) else \
        history.json()["versions"][0]["override"]
    assert marked["reason"] == reason and marked["text"] == f"skriven under reservrutin, med åsidosättande: {reason}"
    with psycopg.connect(journal_server.db_url) as c:
        event = c.execute("SELECT action, actor, detail->>'reason' FROM audit_event WHERE id = %s",
                          (marked["audit_event_id"],)).fetchone()
        write = c.execute("SELECT detail->>'override_event' FROM audit_event WHERE action = 'write' "
                          "AND detail->>'id' = %s", (str(entry),)).fetchone()
    assert event == ("write_during_reservrutin", "lakare", reason)
    assert write == (str(marked["audit_event_id"]),)  # the write's own audit event points to it too

    unmarked = doctor.get(f"/api/v1/entries/note/{plain.json()['entry_id']}/history").json()
    versions = unmarked if isinstance(unmarked, list) else unmarked["versions"]
    assert versions[0]["override"] is None

    page = doctor.get(f"/history/note/{entry}")
    assert "Skriven under reservrutin, med åsidosättande: Akut sepsis, ingen blankett" in page.text
    assert f'data-audit-event="{marked["audit_event_id"]}"' in page.text

    with psycopg.connect(journal_server.db_url) as c, pytest.raises(psycopg.Error):  # append-only
        c.execute("UPDATE entry_override SET reason = 'ändrad i efterhand' WHERE entry_ref = %s", (str(entry),))
