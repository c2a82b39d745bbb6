"""The journal's post-registration screens over real HTTP (forms with CSRF, no JavaScript)."""

from __future__ import annotations

import re

import httpx
import psycopg

from pgtools import login
from postreg_helpers import agent_token, batch, note, nurse_unit, patient_with_order


def csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_review_confirm_and_reject_through_the_pages(journal_server) -> None:
    unit = nurse_unit(journal_server.db_url)
    patient, _, _ = patient_with_order(journal_server.db_url, unit)
    keep, drop = note(patient, "Sidtest: bekräftas"), note(patient, "Sidtest: avvisas")
    r = httpx.post(journal_server.base + "/api/v1/postreg/batches", json=batch(unit, [keep, drop]),
                   headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"})
    assert r.status_code == 201
    with psycopg.connect(journal_server.db_url) as c:
        ids = {k: c.execute("SELECT id FROM postreg_entry WHERE idempotency_key = %s", (k,)).fetchone()[0]
               for k in (keep["key"], drop["key"])}
    client = login(journal_server.base, "sjukskoterska", app="web", timeout=20)
    try:
        units = client.get("/units").text
        assert re.search(rf'href="/postreg/{unit}">\d+ att efterregistrera', units)
        everyone = client.get(f"/postreg/{unit}")
        assert everyone.status_code == 200 and f'href="/postreg/{unit}?patient={patient}"' in everyone.text
        review = client.get(f"/postreg/{unit}?patient={patient}")
        assert review.status_code == 200 and "Sidtest: bekräftas" in review.text
        token = csrf(review.text)
        r = client.post(f"/postreg/{unit}/entries/{ids[drop['key']]}/reject", data={"csrf": token, "reason": "x"})
        assert r.status_code == 422 and "at least 3 characters" in r.text
        r = client.post(f"/postreg/{unit}/entries/{ids[drop['key']]}/reject", data={"csrf": token,
                                                                                    "reason": "Fel patient"})
        assert r.status_code == 303
        r = client.post(f"/postreg/{unit}/entries/{ids[keep['key']]}/confirm", data={"csrf": "forged"})
        assert r.status_code == 403
        r = client.post(f"/postreg/{unit}/entries/{ids[keep['key']]}/confirm",
                        data={"csrf": token, "patient": str(patient)}, follow_redirects=True)
        assert str(r.url).endswith(f"?done=confirmed&patient={patient}")
        assert "Posten är registrerad i journalen." in r.text
        assert "avvisad" in r.text and "Fel patient" in r.text
        with psycopg.connect(journal_server.db_url) as c:
            entry = c.execute("SELECT entry_id FROM postreg_registration WHERE postreg_entry = %s",
                              (ids[keep["key"]],)).fetchone()[0]
        history = client.get(f"/history/note/{entry}").text
        assert "Dokumenterad under driftstopp av sjukskoterska; bekräftad av" in history
        assert "downtime_author" not in history
        overview = client.get(f"/patients/{patient}").text
        assert "Dokumenterad under driftstopp av sjukskoterska" in overview
        again = client.post(f"/postreg/{unit}/entries/{ids[keep['key']]}/confirm", data={"csrf": token})
        assert again.status_code == 409 and "already confirmed" in again.text
    finally:
        client.close()
