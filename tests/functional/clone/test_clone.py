"""The pseudonymised clone: same shape and volume, nothing of the source's people, and a check
that really finds a leak when there is one."""

from __future__ import annotations

import json

import psycopg
import pytest

from obruten.clone.check import check
from obruten.clone.transfer import CloneError, clone
from obruten.platform.pgserver import PostgresInstance
from obruten.postreg import reserve
from obruten.record.audit import verify
from pgtools import seeded_database


@pytest.fixture(scope="module")
def source(pg: PostgresInstance) -> str:
    url = seeded_database(pg, "clone_source", patients=300)
    with psycopg.connect(url) as conn:
        pid, pn, given, family = conn.execute(
            "SELECT id, personal_number, given_name, family_name FROM patient ORDER BY id LIMIT 1").fetchone()
        other_pn = conn.execute("SELECT personal_number FROM patient ORDER BY id DESC LIMIT 1").fetchone()[0]
        staff_id, unit = conn.execute("SELECT staff_id, unit_id FROM staff_unit LIMIT 1").fetchone()
        # an unidentified patient under a reservnummer stays one in the clone, under another number
        conn.execute("INSERT INTO patient (personal_number, given_name, family_name, birth_date, sex, reserve)"
                     " VALUES (%s, 'Okänd', 'Man 0017', '1950-01-01', 'M', true)", (reserve.make(17),))
        # what real notes hold: the patient's name and number, a relative's phone, another patient
        body = (f"{given} {family} ({pn}) inkommer. Dotter nås på 070-123 45 67, anna@example.se. "
                f"Delar sal med pat {other_pn[2:].replace('-', '')}. Ges 1 tablett per dag. Kontakt: lakare.")
        conn.execute("INSERT INTO note (patient_id, unit_id, kind, title, body, clinical_at, signed_by)"
                     " VALUES (%s, %s, 'daganteckning', %s, %s, now() - interval '1 hour', %s)",
                     (pid, unit, f"Samtal med {family}", body, staff_id))
        conn.execute("INSERT INTO audit_event (at, node, actor_id, actor, action, patient_id, purpose, detail,"
                     " prev_hash, hash) SELECT now(), 'journal', %s, 'lakare', 'read', %s, 'vård', %s,"
                     " coalesce((SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1), '\\x00'::bytea), '\\x01'::bytea",
                     (staff_id, pid, json.dumps({"reason": f"ringde {pn}"})))
    return url


@pytest.fixture(scope="module")
def cloned(pg: PostgresInstance, source: str) -> str:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "clone_target" WITH (FORCE)')
        c.execute('CREATE DATABASE "clone_target"')
    target = pg.url("clone_target")
    report = clone(source, target, say=lambda s: None)
    assert report.rows["patient"] == 301
    return target


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("patient", "staff", "admission", "note", "warning", "medication_order",
                          "medication_administration", "referral", "referral_result", "audit_event")}


def test_same_shape_and_volume(source: str, cloned: str) -> None:
    assert _counts(cloned) == _counts(source)
    with psycopg.connect(source) as s, psycopg.connect(cloned) as t:
        query = "SELECT sex, count(*) FROM patient GROUP BY sex ORDER BY sex"
        assert s.execute(query).fetchall() == t.execute(query).fetchall()
        query = "SELECT unit_id, count(*) FROM admission GROUP BY unit_id ORDER BY unit_id"
        assert s.execute(query).fetchall() == t.execute(query).fetchall()


def test_identities_replaced(source: str, cloned: str) -> None:
    with psycopg.connect(source) as s, psycopg.connect(cloned) as t:
        src = s.execute("SELECT id, personal_number, given_name, family_name, birth_date FROM patient ORDER BY id").fetchall()
        dst = t.execute("SELECT id, personal_number, given_name, family_name, birth_date FROM patient ORDER BY id").fetchall()
        assert not {r[1] for r in src} & {r[1] for r in dst}
        assert all((a[2], a[3]) != (b[2], b[3]) and a[4] != b[4] for a, b in zip(src, dst, strict=True))
        assert all(b[4] < a[4] and (a[4] - b[4]).days <= 30 for a, b in zip(src, dst, strict=True))
        users = t.execute("SELECT username, password_hash FROM staff").fetchall()
        assert all(u[1] is None for u in users)
        assert not {u[0] for u in users} & {r[0] for r in s.execute("SELECT username FROM staff")}
        body = t.execute("SELECT body FROM note ORDER BY id DESC LIMIT 1").fetchone()[0]
    first = src[0]
    assert first[2] not in body and first[3] not in body and first[1] not in body
    assert "070-123" not in body and "anna@example.se" not in body
    assert "[personnummer borttaget]" in body and "[telefonnummer borttaget]" in body
    assert "1 tablett per dag" in body  # ordinary words that are also names ("per") stay


def test_dates_shift_together_per_patient(source: str, cloned: str) -> None:
    query = """SELECT a.patient_id, a.admitted_at - p.created_at, n.clinical_at - a.admitted_at
                 FROM admission a JOIN patient p ON p.id = a.patient_id
                 JOIN note n ON n.patient_id = a.patient_id ORDER BY a.id, n.id LIMIT 200"""
    with psycopg.connect(source) as s, psycopg.connect(cloned) as t:
        assert s.execute(query).fetchall() == t.execute(query).fetchall()


def test_audit_chain_recomputed_and_valid(cloned: str) -> None:
    result = verify(cloned)
    assert result.ok, result


def test_check_passes_on_the_clone(source: str, cloned: str) -> None:
    report = check(source, cloned)
    assert report.passed, report.findings
    assert report.patients == 301 and report.texts > 1000
    with psycopg.connect(cloned) as t:
        numbers = [r[0] for r in t.execute("SELECT personal_number FROM patient WHERE reserve")]
    assert len(numbers) == 1 and reserve.is_reserve(numbers[0]) and numbers[0] != reserve.make(17)


def test_check_finds_a_planted_leak(pg: PostgresInstance, source: str) -> None:
    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute('DROP DATABASE IF EXISTS "clone_leak" WITH (FORCE)')
        c.execute('CREATE DATABASE "clone_leak"')
    target = pg.url("clone_leak")
    clone(source, target, say=lambda s: None)
    with psycopg.connect(source) as s:
        pn = s.execute("SELECT personal_number FROM patient ORDER BY id LIMIT 1 OFFSET 5").fetchone()[0]
    with psycopg.connect(target) as t:
        t.execute("SET session_replication_role = replica")
        pid, unit, staff = t.execute("SELECT patient_id, unit_id, signed_by FROM note LIMIT 1").fetchone()
        t.execute("INSERT INTO note (patient_id, unit_id, kind, body, clinical_at, signed_by)"
                  " VALUES (%s, %s, 'telefon', %s, now(), %s)", (pid, unit, f"ring {pn[2:]}", staff))
    report = check(source, target)
    assert not report.passed
    assert any("note.body" in f and "source personal number" in f for f in report.findings)
    assert all(pn not in f and pn[2:] not in f for f in report.findings)  # the report never repeats it


def test_refuses_a_target_that_has_patients(pg: PostgresInstance, source: str) -> None:
    target = seeded_database(pg, "clone_busy", patients=100)
    with pytest.raises(CloneError, match="already holds patients"):
        clone(source, target, say=lambda s: None)
