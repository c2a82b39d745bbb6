"""The read copy's cache drops only what a replayed change names (schema 0080), and never serves a
body older than the replay position: a write on the journal shows on the read copy as soon as the
standby has replayed it and the lag tracker has seen that (its poll, ~1 s), for the patient written
to and for the ward list of the unit the patient is on; another patient's cached body stays."""

from __future__ import annotations

import uuid

import psycopg

from obruten.readcopy.standby import wait_replayed
from pgtools import wait_for


def _ward(nurse, site) -> tuple[str, list[int]]:  # type: ignore[no-untyped-def]
    unit = nurse.units[0]
    rows = nurse.get(f"/api/v1/units/{unit}/patients").json()
    return unit, [int(r["id"]) for r in rows]


def test_a_write_reaches_the_cached_reads_it_changes_and_only_those(site, login) -> None:  # type: ignore[no-untyped-def]
    nurse = login(site.read_copy, "sjukskoterska")
    unit, patients = _ward(nurse, site)
    a, b = patients[-1], patients[-2]
    for _ in range(2):  # read twice: the second is served from the cache
        before_a = nurse.get(f"/api/v1/patients/{a}").json()
        before_b = nurse.get(f"/api/v1/patients/{b}").text
        ward_before = nurse.get(f"/api/v1/units/{unit}/patients").json()
    assert before_a["patient"]["id"] == a

    title = f"Cachekontroll {uuid.uuid4().hex[:8]}"
    written = login(site.journal, "sjukskoterska").post(
        f"/api/v1/patients/{a}/notes", json={"kind": "omvardnad", "title": title, "body": "Ny anteckning."})
    assert written.status_code == 201, written.text
    allergy = f"Latexallergi {uuid.uuid4().hex[:6]}"
    with psycopg.connect(site.primary.url(), autocommit=True) as c:
        staff = c.execute("SELECT id FROM staff WHERE username = 'lakare'").fetchone()[0]  # type: ignore[index]
        c.execute("INSERT INTO warning (patient_id, kind, text, severity, clinical_at, signed_by) "
                  "VALUES (%s, 'allergy', %s, 'high', now(), %s)", (a, allergy, staff))
    wait_replayed(site.primary.url(), site.standby.url())

    def fresh() -> bool:
        overview = nurse.get(f"/api/v1/patients/{a}").text
        ward = nurse.get(f"/api/v1/units/{unit}/patients").text
        return title in overview and allergy in overview and allergy in ward
    wait_for(fresh, 10, "the note and the allergy on the read copy's overview and ward list")
    assert nurse.get(f"/api/v1/patients/{b}").text == before_b  # untouched patient: the same body
    assert len(nurse.get(f"/api/v1/units/{unit}/patients").json()) == len(ward_before)


def test_a_change_not_tied_to_a_patient_drops_every_cached_read(site, login) -> None:  # type: ignore[no-untyped-def]
    """A unit renamed (no patient named): every ward list and overview shows the new name."""
    nurse = login(site.read_copy, "sjukskoterska")
    unit, patients = _ward(nurse, site)
    nurse.get(f"/api/v1/patients/{patients[0]}")
    new_name = f"Avdelning {uuid.uuid4().hex[:6]}"
    with psycopg.connect(site.primary.url(), autocommit=True) as c:
        c.execute("UPDATE care_unit SET name = %s WHERE id = %s", (new_name, unit))
    wait_replayed(site.primary.url(), site.standby.url())
    wait_for(lambda: new_name in nurse.get(f"/api/v1/patients/{patients[0]}").text, 10,
             "the unit's new name in a cached overview")


def test_the_standby_names_the_patients_of_the_transactions_replayed_since_the_last_look(site, login) -> None:  # type: ignore[no-untyped-def]
    """``changes_since`` on the real standby: the xmin of its snapshot, then the write's patient and
    units once replayed (and a look that starts afresh names nothing)."""
    import asyncio

    from psycopg_pool import AsyncConnectionPool

    from obruten.readcopy.journal import changes_since

    nurse = login(site.read_copy, "sjukskoterska")
    unit, patients = _ward(nurse, site)

    async def look(since: int | None) -> tuple[int, list[tuple[int | None, str | None, str | None]]]:
        async with AsyncConnectionPool(site.standby.url(), min_size=1, max_size=1, open=False) as pool:
            return await changes_since(pool, since)

    xmin, named = asyncio.run(look(None))
    assert named == []
    written = login(site.journal, "sjukskoterska").post(
        f"/api/v1/patients/{patients[0]}/notes", json={"kind": "omvardnad", "title": "Xmin", "body": "x"})
    assert written.status_code == 201, written.text
    wait_replayed(site.primary.url(), site.standby.url())
    later, named = asyncio.run(look(xmin))
    assert later > xmin and (patients[0], unit, "note") in named
