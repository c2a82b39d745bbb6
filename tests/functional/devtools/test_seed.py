"""The synthetic region generator, against its own fresh database (db_url's database is shared)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from obruten.devtools.seed import SeedError, generate
from obruten.platform.auth import check_password
from obruten.record import personal_number
from obruten.record.schema import migrate


def _with_db(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


@pytest.fixture(scope="module")
def seeded(db_url: str) -> Iterator[tuple[str, dict[str, int], list[tuple[str, int, int]]]]:
    dbname = f"seedtest_{secrets.token_hex(4)}"
    admin_url = _with_db(db_url, "postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = _with_db(db_url, dbname)
    try:
        migrate(url)
        calls: list[tuple[str, int, int]] = []
        counts = generate(url, patients=3000, progress=lambda s, d, t: calls.append((s, d, t)))
        yield url, counts, calls
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def test_counts_and_scale(seeded: tuple[str, dict[str, int], list[tuple[str, int, int]]]) -> None:
    url, counts, calls = seeded
    assert counts["patient"] == 3000
    assert counts["hospital"] == 3 and counts["care_unit"] == 8
    for table in ("staff_unit", "admission", "note", "diagnosis", "medication_order",
                  "medication_administration", "referral", "referral_result"):
        assert counts[table] > 0, table
    assert ("patients", 3000, 3000) in calls
    with psycopg.connect(url) as conn:
        wards, beds = conn.execute("SELECT count(*), sum(beds) FROM care_unit WHERE kind = 'ward'").fetchone()
        assert wards >= 5 and 16 * wards <= beds <= 30 * wards
        assert conn.execute("SELECT count(*) FROM care_unit WHERE kind = 'clinic' AND beds = 0").fetchone()[0] >= 1
        ids = [r[0] for r in conn.execute("SELECT id FROM care_unit")]
        assert all(re.fullmatch(r"H\d\d-(AVD|MOTT)\d\d", i) for i in ids)
        # every open admission is on a ward, at most ~90% occupancy, and each has a rich record
        assert conn.execute("""SELECT count(*) FROM admission a JOIN care_unit u ON u.id = a.unit_id
                               WHERE a.discharged_at IS NULL AND u.kind <> 'ward'""").fetchone()[0] == 0
        open_n = conn.execute("SELECT count(*) FROM admission WHERE discharged_at IS NULL").fetchone()[0]
        assert 0.75 * beds <= open_n <= 0.92 * beds
        assert conn.execute("""SELECT count(*) FROM admission a WHERE discharged_at IS NULL AND NOT EXISTS
                               (SELECT 1 FROM note n WHERE n.patient_id = a.patient_id AND n.kind = 'inskrivning')
                               """).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM admission a JOIN care_unit u ON u.id = a.unit_id "
                            "WHERE u.kind = 'clinic'").fetchone()[0] > 0
        # signers belong to the unit
        assert conn.execute("""SELECT count(*) FROM medication_order o WHERE NOT EXISTS
                               (SELECT 1 FROM staff_unit su JOIN staff s ON s.id = su.staff_id
                                WHERE su.staff_id = o.signed_by AND su.unit_id = o.unit_id
                                  AND s.role = 'physician')""").fetchone()[0] == 0
        # nothing is signed in the future, nor before its clinical time
        for table in ("note", "diagnosis", "warning", "medication_administration", "referral", "referral_result"):
            bad = conn.execute(f"SELECT count(*) FROM {table} WHERE signed_at > now() "
                               "OR signed_at < clinical_at").fetchone()[0]
            assert bad == 0, table
        not_given = conn.execute("SELECT count(*) FILTER (WHERE outcome = 'not_given'), count(*) "
                                 "FROM medication_administration").fetchone()
        assert 0 < not_given[0] < not_given[1] / 4


def test_demo_logins(seeded: tuple[str, dict[str, int], list[tuple[str, int, int]]]) -> None:
    url = seeded[0]
    with psycopg.connect(url) as conn:
        rows = conn.execute("""SELECT s.username, s.role, s.full_name, s.password_hash,
                                      coalesce(array_agg(su.unit_id ORDER BY su.unit_id)
                                               FILTER (WHERE su.unit_id IS NOT NULL), '{}')
                               FROM staff s LEFT JOIN staff_unit su ON su.staff_id = s.id
                               WHERE s.password_hash IS NOT NULL GROUP BY s.id""").fetchall()
        first_wards = [r[0] for r in conn.execute(
            "SELECT id FROM care_unit WHERE hospital_id = 'H01' AND kind = 'ward' ORDER BY id LIMIT 2")]
    demo = {r[0]: r for r in rows}
    assert set(demo) == {"lakare", "sjukskoterska", "admin", "it"}
    assert all(check_password(r[3], "demo") for r in rows)
    assert demo["lakare"][1:3] == ("physician", "Lisa Läkare") and demo["lakare"][4] == first_wards
    assert demo["sjukskoterska"][1] == "nurse" and demo["sjukskoterska"][4] == first_wards[:1]
    assert demo["admin"][1] == "admin" and demo["admin"][4] == []
    assert demo["it"][1:3] == ("it", "Ivar IT-jour") and demo["it"][4] == []


def test_personal_numbers_and_orders(seeded: tuple[str, dict[str, int], list[tuple[str, int, int]]]) -> None:
    url = seeded[0]
    with psycopg.connect(url) as conn:
        pns = [r[0] for r in conn.execute("SELECT personal_number FROM patient")]
        assert all(personal_number.is_synthetic(p) and not personal_number.is_valid(p) for p in pns)
        numbers = [r[0] for r in conn.execute("SELECT order_number FROM referral")]
        assert len(numbers) == len(set(numbers))
        assert all(re.fullmatch(r"(LAB|RTG)-\d+[A-HJ-NP-R]{6}-\d{7}", n) for n in numbers)
        orphans = conn.execute("""SELECT count(*) FROM referral_result r WHERE NOT EXISTS
                                  (SELECT 1 FROM referral f WHERE f.order_number = r.order_number
                                   AND f.patient_id = r.patient_id)""").fetchone()[0]
        assert orphans == 0
        share = conn.execute("SELECT (SELECT count(*) FROM referral_result)::float / count(*) "
                             "FROM referral").fetchone()[0]
        assert 0.45 < share < 0.75
        stopped = conn.execute("""SELECT v2.stop_at, v2.reason, v1.stop_at, v2.entry_id = v1.entry_id
                                  FROM medication_order v2 JOIN medication_order v1 ON v1.id = v2.supersedes
                                  WHERE v2.version = 2""").fetchall()
        assert stopped and all(r[0] is not None and len(r[1]) >= 3 and r[2] is None and r[3] for r in stopped)
        codes = [r[0] for r in conn.execute("SELECT code FROM diagnosis")]
        assert all(re.fullmatch(r"[A-Z]\d\d(\.[0-9A-Z]{1,2})?", c) for c in codes)


def test_seeding_twice_is_refused(seeded: tuple[str, dict[str, int], list[tuple[str, int, int]]]) -> None:
    with pytest.raises(SeedError, match="already has a region"):
        generate(seeded[0], patients=200)


def test_the_demo_record_is_clinically_coherent(seeded: tuple[str, dict[str, int], list[tuple[str, int, int]]]) -> None:
    """Admission reason, admission note, diagnosis, results and drugs follow one case; a drug that
    matches a patient's allergy is never ordered; "x N" has N times; PRN orders have a maximum."""
    import random

    from obruten.devtools.seed_cases import CASES
    from obruten.record import allergy

    def shape(text: str) -> str:
        return re.sub(r"\d+(,\d+)?", "#", text)

    panels = {tests: {shape(make(random.Random(0), a)) for a in (True, False)} for c in CASES for tests, make in c.labs}
    imaging = {(test, answer) for c in CASES for test, answer in c.imaging}
    by_cause = {c.cause: c for c in CASES}
    with psycopg.connect(seeded[0]) as conn:
        stays = conn.execute("""SELECT a.cause, n.body, array_agg(DISTINCT d.code) FROM admission_current a
                                JOIN note_current n ON n.patient_id = a.patient_id AND n.kind = 'inskrivning'
                                JOIN diagnosis_current d ON d.patient_id = a.patient_id
                                WHERE a.discharged_at IS NULL GROUP BY a.cause, n.body, a.patient_id""").fetchall()
        assert stays
        for cause, body, codes in stays:
            assert cause.lower() in body.lower() and by_cause[cause].intake in body
            assert by_cause[cause].code in codes
        for tests, kind, text in conn.execute("""SELECT f.tests, f.kind, r.text FROM referral_result_current r
                                                 JOIN referral_current f ON f.order_number = r.order_number"""):
            if kind == "lab":
                assert shape(text) in panels[tests], (tests, text)
            else:
                assert (tests, text) in imaging, (tests, text)
        orders = conn.execute("""SELECT o.drug, o.substance, o.frequency, cardinality(o.times), o.as_needed,
                                        o.prn_max_per_24h, coalesce(array_agg(w.text) FILTER (WHERE w.text IS NOT NULL), '{}')
                                 FROM medication_order_current o LEFT JOIN warning_current w
                                   ON w.patient_id = o.patient_id AND w.active
                                 GROUP BY o.id, o.drug, o.substance, o.frequency, o.times, o.as_needed,
                                          o.prn_max_per_24h""").fetchall()
        for drug, substance, frequency, n_times, as_needed, prn_max, warnings in orders:
            assert substance, drug
            assert not allergy.matching_warnings([{"text": w} for w in warnings], substance, drug), (drug, warnings)
            if as_needed:
                assert n_times == 0 and prn_max and f"max x {prn_max}" in frequency
            else:
                assert frequency == f"x {n_times}", (drug, frequency, n_times)
        allergic = conn.execute("SELECT count(*) FROM warning_current WHERE text = 'Penicillinallergi'").fetchone()[0]
        assert allergic > 0
