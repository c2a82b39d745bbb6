"""The submitter against the real journal: oversized and refused entries never block the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from obruten.postreg.models import DowntimeEntry
from obruten.ward_agent.downtime_store import DowntimeStore
from obruten.ward_agent.downtime_submit import Submitter
from postreg_helpers import agent_token, nurse_unit, patient_with_order, received


def entry(patient: int, body: str) -> DowntimeEntry:
    at = datetime.now(UTC) - timedelta(hours=1)
    return DowntimeEntry(key=uuid.uuid4(), kind="note", patient_id=patient, author="sjukskoterska", clinical_at=at,
                         recorded_at=at, note={"kind": "omvardnad", "body": body})


def test_an_entry_too_large_for_the_journal_is_refused_and_the_rest_goes_through(tmp_path, journal_server) -> None:
    unit = nurse_unit(journal_server.db_url)
    patient, _, _ = patient_with_order(journal_server.db_url, unit)
    store = DowntimeStore(tmp_path / "d.sqlite3", unit, "pc-1")
    huge = entry(patient, "😀" * 20000)  # valid (20,000 characters) but 80 KB: over the journal's 64 KiB limit
    small = [entry(patient, f"Kort anteckning {i}") for i in range(3)]
    store.add([(small[0], "p", "omvardnad"), (huge, "p", "omvardnad"), *[(e, "p", "omvardnad") for e in small[1:]]])
    submitter = Submitter(store, journal_server.base, agent_token(journal_server.var_dir, unit))
    said = submitter.drain()
    submitter.close()
    assert any("marked refused" in s for s in said), said
    assert store.counts() == {"refused": 1, "submitted_pending": 3}
    assert received(journal_server.db_url, [str(e.key) for e in small]) == 3
    assert received(journal_server.db_url, [str(huge.key)]) == 0
    refused = [e for e in store.listing() if e["state"] == "refused"]
    assert refused[0]["key"] == str(huge.key) and "request limit" in refused[0]["refused_reason"]
    store.close()


def test_a_wrong_token_keeps_everything_queued_and_says_what_to_do(tmp_path, journal_server) -> None:
    unit = nurse_unit(journal_server.db_url)
    patient, _, _ = patient_with_order(journal_server.db_url, unit)
    store = DowntimeStore(tmp_path / "d.sqlite3", unit, "pc-1")
    store.add([(entry(patient, "Text"), "p", "omvardnad")])
    submitter = Submitter(store, journal_server.base, "not-the-token")
    said = submitter.drain()
    submitter.close()
    assert "obruten wardkit agent-token" in said[0] and store.counts() == {"queued": 1}
    store.close()
