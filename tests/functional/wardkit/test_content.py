"""What goes into a kit: admitted patients as of the kit's time, active orders with their next
24 h, what was given in the last 24 h (current versions only)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from obruten.platform.errors import NotFound

from .conftest import NOW, Ward


def test_kit_document_shape_and_warnings_first(ward: Ward) -> None:
    kit = ward.kit()
    assert kit["format"] == "obruten-wardkit/1"
    assert kit["unit"]["id"] == ward.unit and kit["unit"]["name"] and kit["unit"]["hospital"]
    assert kit["as_of"].startswith("2026-11-20T09:00:00")
    p = ward.patient_in(kit)
    assert p is not None and p["personal_number"] == "19400101-0009"
    assert p["warnings"][0]["text"] == "Anafylaxi mot testamin"
    assert p["warnings"][0]["severity"] == "life_threatening"
    assert {"id", "personal_number", "given_name", "family_name", "birth_date", "admitted_at", "warnings",
            "diagnoses", "medications", "notes", "open_referrals"} <= set(p)


def test_stopped_order_is_not_in_the_kit_and_a_stopping_one_only_until_its_stop(ward: Ward) -> None:
    meds = {m["entry_id"]: m for m in ward.patient_in(ward.kit())["medications"]}  # type: ignore[index]
    assert ward.stopped_order not in meds
    active = meds[ward.active_order]
    # 10:00 local: 14:00, 20:00, 02:00 and 08:00 (next day) are due; all are after now and within 24 h
    assert active["schedule_next_24h"] == ["2026-11-20T13:00:00+00:00", "2026-11-20T19:00:00+00:00",
                                           "2026-11-21T01:00:00+00:00", "2026-11-21T07:00:00+00:00"]
    assert active["times"] == ["02:00", "08:00", "14:00", "20:00"]
    # stops at 18:00 local: only the 14:00 dose remains on the schedule
    assert meds[ward.stopping_order]["schedule_next_24h"] == ["2026-11-20T13:00:00+00:00"]


def test_given_last_24h_counts_current_versions_inside_the_window(ward: Ward) -> None:
    meds = {m["entry_id"]: m for m in ward.patient_in(ward.kit())["medications"]}  # type: ignore[index]
    given = meds[ward.active_order]["given_last_24h"]
    assert [(g["outcome"], g["clinical_at"]) for g in given] == [
        ("given", "2026-11-20T07:55:00+00:00"),
        ("not_given", "2026-11-20T02:00:00+00:00"),
        ("not_given", "2026-11-19T20:00:00+00:00"),     # the correction (version 2), not the original
    ]
    assert given[2]["not_given_reason"] == "Fastande"
    assert all(g["by"] for g in given)


def test_patient_admitted_after_the_kit_time_is_not_in_it(ward: Ward) -> None:
    later = ward.admit("19500101-0018", NOW + timedelta(minutes=10))
    assert ward.patient_in(ward.kit(), later) is None
    assert ward.patient_in(ward.kit(NOW + timedelta(minutes=11)), later) is not None


def test_a_medication_stopped_later_leaves_the_later_kit(ward: Ward) -> None:
    later_kit = ward.kit(NOW + timedelta(hours=9))
    meds = {m["entry_id"] for m in ward.patient_in(later_kit)["medications"]}  # type: ignore[index]
    assert ward.stopping_order not in meds and ward.active_order in meds


def test_unknown_unit_is_a_clear_error(ward: Ward) -> None:
    import asyncio

    import psycopg

    from obruten.wardkit.content import unit_kit_data

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(ward.url, autocommit=True) as conn:
            await unit_kit_data(conn, "NO-SUCH-UNIT")
    with pytest.raises(NotFound, match="no care unit"):
        asyncio.run(run())
