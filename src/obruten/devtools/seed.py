"""Fill an empty, migrated database with a synthetic region (hospitals, units, staff, patients, care).

Everything is fictional: hospital names are invented, patients get personal numbers with a
deliberately wrong check digit (see ``obruten.record.personal_number``) and staff have no password except
the optional demo accounts. Bulk tables are loaded with COPY in one transaction; the content is
deterministic for a given ``seed`` (times are relative to ``now``; order numbers come from the
database). Identity columns are never assumed: ids are read back after each COPY.
"""

from __future__ import annotations

import random
import uuid
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from obruten.devtools.seed_cases import (
    ALLERGIES,
    CARE_NOTES,
    CASES,
    EXTRA_PRN,
    GENERAL_DAY_NOTES,
    PRIMPERAN,
    STOP_REASONS,
    Case,
    Drug,
)
from obruten.platform.auth import hash_password
from obruten.platform.errors import ObrutenError
from obruten.platform.progress import Progress
from obruten.platform.rows import one
from obruten.record import allergy, personal_number

_LOCK = 0x0B5C_5EED
HISTORY_CAP = 50_000
TABLES = ("hospital", "care_unit", "staff", "staff_unit", "patient", "admission", "note", "diagnosis",
          "warning", "medication_order", "medication_administration", "referral", "referral_result", "kit_fact")
try:
    _LOCAL: tzinfo = ZoneInfo("Europe/Stockholm")
except Exception:  # no tz database: schedule in UTC
    _LOCAL = UTC


class SeedError(ObrutenError, RuntimeError):
    """The database cannot be seeded (for example: it already has a region)."""


HOSPITALS = ("Norrbyns sjukhus", "Sjövikens lasarett", "Älvdalens sjukhus", "Granåsens sjukhus",
             "Björkhamns lasarett", "Östersands sjukhus", "Lindvikens sjukhus", "Ekebergs lasarett",
             "Tallmyrens sjukhus", "Strandbackens sjukhus", "Västerfjärdens lasarett", "Hagalunds sjukhus",
             "Klippviks sjukhus", "Rönnholmens lasarett", "Ängsbyns sjukhus", "Furuviks sjukhus",
             "Sandvreta lasarett", "Mossbergs sjukhus", "Åkerstads sjukhus", "Bäckdalens lasarett",
             "Ljungbyholms sjukhus", "Solbackens sjukhus", "Storvikens lasarett", "Kvarnbyns sjukhus",
             "Höglidens sjukhus", "Sjöängens lasarett", "Blåsjöns sjukhus", "Lövångers sjukhus",
             "Fjällbackens lasarett", "Vretstorps sjukhus")
WARD_SPECIALTIES = ("Medicin", "Kirurgi", "Ortopedi", "Kardiologi", "Geriatrik", "Infektion", "Neurologi",
                    "Lungmedicin", "Njurmedicin", "Urologi", "Gastroenterologi", "Onkologi", "Hematologi",
                    "Endokrinologi", "Strokeenhet", "Palliativ vård")
CLINICS = ("Kardiologmottagning", "Diabetesmottagning", "Ortopedmottagning", "Kirurgmottagning",
           "Medicinmottagning", "Lungmottagning", "Njurmottagning", "Reumatologmottagning", "Hudmottagning",
           "Ögonmottagning", "Öron-näsa-halsmottagning", "Neurologmottagning", "Urologmottagning",
           "Smärtmottagning", "Hematologmottagning", "Onkologmottagning", "Infektionsmottagning")
GIVEN_F = ("Anna", "Eva", "Maria", "Karin", "Sara", "Kristina", "Lena", "Emma", "Kerstin", "Ingrid",
           "Marie", "Malin", "Jenny", "Hanna", "Birgitta", "Linnéa", "Elsa", "Astrid", "Ebba", "Maja",
           "Ulla", "Margareta", "Elin", "Ida", "Sofia", "Alice", "Wilma", "Julia", "Agnes", "Märta")
GIVEN_M = ("Lars", "Karl", "Anders", "Johan", "Per", "Erik", "Mikael", "Nils", "Jan", "Hans", "Olof",
           "Peter", "Thomas", "Daniel", "Fredrik", "Gustav", "Oskar", "Axel", "Lucas", "William", "Elias",
           "Hugo", "Sven", "Bengt", "Åke", "Göran", "Mats", "Magnus", "Stefan", "Henrik")
FAMILY = ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
          "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Jönsson",
          "Lindberg", "Jakobsson", "Magnusson", "Lindström", "Olofsson", "Lindqvist", "Lindgren", "Berg",
          "Axelsson", "Bergström", "Lundberg", "Lind", "Lundgren", "Lundqvist", "Mattsson", "Berglund",
          "Fredriksson", "Sandberg", "Henriksson", "Forsberg", "Sjöberg", "Wallin", "Engström", "Danielsson",
          "Håkansson", "Eklund", "Lundin", "Gunnarsson", "Holm", "Björk", "Bergman", "Samuelsson", "Fransson")
DIAGNOSES = tuple((c.code, c.diagnosis, c.cause) for c in CASES)  # (ICD-10, text, admission reason)
NOT_GIVEN = ("Patienten sov", "Patienten avböjde", "Fastande inför undersökning", "Illamående",
             "Lågt blodtryck, kontakt med läkare")


@dataclass
class Unit:
    id: str
    hospital_id: str
    name: str
    kind: str
    beds: int
    physicians: list[int] = field(default_factory=list)
    nurses: list[int] = field(default_factory=list)


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _copy(cur: psycopg.Cursor[Any], table: str, columns: str, rows: Iterable[Sequence[Any]]) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _build_units(rng: random.Random, n_units: int) -> tuple[list[tuple[str, str]], list[Unit]]:
    n_hosp = _clamp(n_units / 40, 3, 30)
    hospitals = [(f"H{h + 1:02d}", HOSPITALS[h]) for h in range(n_hosp)]
    units: list[Unit] = []
    for h, (hid, _) in enumerate(hospitals):
        n = n_units // n_hosp + (1 if h < n_units % n_hosp else 0)
        n_wards = min(n, max(2, round(n * 2 / 3)))
        for w in range(n_wards):
            specialty = WARD_SPECIALTIES[w % len(WARD_SPECIALTIES)]
            units.append(Unit(f"{hid}-AVD{w + 10:02d}", hid, f"Avdelning {w + 10} {specialty}", "ward",
                              rng.randint(16, 30)))
        for c in range(n - n_wards):
            name = CLINICS[c % len(CLINICS)] + (f" {c // len(CLINICS) + 1}" if c >= len(CLINICS) else "")
            units.append(Unit(f"{hid}-MOTT{c + 1:02d}", hid, name, "clinic", 0))
    return hospitals, units


class _Clock:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng, self.now = rng, now

    def between(self, a: datetime, b: datetime) -> datetime:
        return a + timedelta(seconds=self.rng.randrange(max(1, int((b - a).total_seconds()))))

    def after(self, t: datetime, lo_min: int, hi_min: int) -> datetime:
        return t + timedelta(seconds=self.rng.randrange(lo_min * 60, hi_min * 60))


def generate(url: str, patients: int, *, seed: int = 1, progress: Progress | None = None,
             demo_logins: bool = True, now: datetime | None = None) -> dict[str, int]:
    """Seed a region with ``patients`` patients into the empty, migrated database at ``url``.

    Raises SeedError if patients already exist. Returns the row count of every seeded table.
    """
    if patients < 100:
        raise SeedError("seed at least 100 patients")
    rng = random.Random(seed)
    clock = _Clock(rng, (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0))
    now = clock.now
    report: Progress = progress or (lambda stage, done, total: None)

    def new_uuid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        cur.execute("SET LOCAL synchronous_commit = off")
        if one(cur.execute("SELECT EXISTS (SELECT 1 FROM patient)").fetchone())[0]:
            raise SeedError("the database already has a region; refusing to seed on top of existing "
                            "patients (seed only an empty, freshly migrated database)")

        # ---- hospitals, units, staff ---------------------------------------------------------
        hospitals, units = _build_units(rng, _clamp(patients / 1500, 8, 1100))
        wards = [u for u in units if u.kind == "ward"]
        clinics = [u for u in units if u.kind == "clinic"]
        _copy(cur, "hospital", "id, name", hospitals)
        _copy(cur, "care_unit", "id, hospital_id, name, kind, beds",
              ((u.id, u.hospital_id, u.name, u.kind, u.beds) for u in units))
        report("units", len(units), len(units))
        staff_rows: list[tuple[str, str, str, str | None]] = []
        membership: list[tuple[str, str]] = []   # (username, unit id)
        for u in units:
            for role, count in (("physician", rng.randint(2, 4)), ("nurse", rng.randint(5, 7))):
                for _ in range(count):
                    given_name = rng.choice(GIVEN_F if rng.random() < 0.6 else GIVEN_M)
                    username = f"hsa{10000 + len(staff_rows)}"
                    staff_rows.append((username, f"{given_name} {rng.choice(FAMILY)}", role, None))
                    membership.append((username, u.id))
        if demo_logins:
            first_wards = [w.id for w in wards if w.hospital_id == hospitals[0][0]][:2]
            for username, name, role, member_of in (("lakare", "Lisa Läkare", "physician", first_wards),
                                                    ("sjukskoterska", "Sam Sjuksköterska", "nurse", first_wards[:1]),
                                                    ("admin", "Ada Admin", "admin", []),
                                                    ("it", "Ivar IT-jour", "it", [])):
                staff_rows.append((username, name, role, hash_password("demo")))
                membership.extend((username, unit_id) for unit_id in member_of)
        _copy(cur, "staff", "username, full_name, role, password_hash", staff_rows)
        staff_id: dict[str, int] = dict(cur.execute("SELECT username, id FROM staff").fetchall())
        _copy(cur, "staff_unit", "staff_id, unit_id", ((staff_id[n], uid) for n, uid in membership))
        by_unit = {u.id: u for u in units}
        roles = {row[0]: row[2] for row in staff_rows}
        for username, unit_id in membership:
            if username.startswith("hsa"):
                unit = by_unit[unit_id]
                (unit.physicians if roles[username] == "physician" else unit.nurses).append(staff_id[username])
        report("staff", len(staff_rows), len(staff_rows))

        # ---- patients ------------------------------------------------------------------------
        base, span = date(1925, 1, 1).toordinal(), date(2024, 12, 31).toordinal() - date(1925, 1, 1).toordinal() + 1
        births, serials = array("i"), array("H")
        taken: dict[int, int] = {}
        with cur.copy("COPY patient (personal_number, given_name, family_name, birth_date, sex) FROM STDIN") as cp:
            for i in range(patients):
                male = rng.random() < 0.49
                while True:
                    ordinal = base + rng.randrange(span)
                    k = taken.get(ordinal * 2 + male, 0)
                    if k < 500:
                        break
                taken[ordinal * 2 + male] = k + 1
                serial = 2 * k + male
                born = date.fromordinal(ordinal)
                births.append(ordinal)
                serials.append(serial)
                cp.write_row((personal_number.make(born, serial), rng.choice(GIVEN_M if male else GIVEN_F),
                              rng.choice(FAMILY), born.isoformat(), "M" if male else "F"))
                if (i + 1) % 10_000 == 0:
                    report("patients", i + 1, patients)
        report("patients", patients, patients)

        def pn(index: int) -> str:
            return personal_number.make(date.fromordinal(births[index]), serials[index])

        # ---- admissions ------------------------------------------------------------------------
        open_plan = [(w, round(w.beds * rng.uniform(0.8, 0.9))) for w in wards]
        n_open = min(sum(n for _, n in open_plan), patients // 2)
        n_hist = min(round(patients * 0.05), HISTORY_CAP)
        chosen = rng.sample(range(patients), n_open + n_hist)
        pid: dict[str, int] = dict(cur.execute("SELECT personal_number, id FROM patient WHERE personal_number = ANY(%s)",
                               ([pn(i) for i in chosen],)).fetchall())
        ids = [pid[pn(i)] for i in chosen]
        admissions: list[tuple[Any, ...]] = []
        notes: list[tuple[Any, ...]] = []
        open_stays: list[tuple[int, Unit, datetime, Case]] = []
        it = iter(ids[:n_open])
        for ward, count in open_plan:
            for _ in range(count):
                patient = next(it, None)
                if patient is None:
                    break
                admitted = now - timedelta(seconds=rng.randrange(3 * 3600, 10 * 86400))
                case = CASES[0] if not open_stays else rng.choice(CASES)  # the first: the demo ward's heart failure
                admissions.append((new_uuid(), patient, ward.id, admitted, None, case.cause,
                                   rng.choice(ward.physicians), clock.after(admitted, 3, 20)))
                open_stays.append((patient, ward, admitted, case))
        for patient in ids[n_open:]:
            unit = rng.choice(wards) if rng.random() < 0.7 or not clinics else rng.choice(clinics)
            admitted = now - timedelta(seconds=rng.randrange(20 * 86400, 3 * 365 * 86400))
            case = rng.choice(CASES)
            if unit.kind == "ward":
                left = admitted + timedelta(seconds=rng.randrange(86400, 12 * 86400))
                kind, title, body = ("epikris", "Epikris",
                                     f"Vårdad för {case.diagnosis.lower()} ({case.code}). Utskriven till hemmet i gott skick.")
            else:
                left = clock.after(admitted, 30, 90)
                kind, title, body = "daganteckning", "Mottagningsbesök", "Besök enligt plan. Ny kontroll om 6 mån."
            doctor = rng.choice(unit.physicians)
            admissions.append((new_uuid(), patient, unit.id, admitted, left, case.cause,
                               doctor, clock.after(left, 5, 60)))
            notes.append((new_uuid(), patient, unit.id, kind, title, body, left, doctor, clock.after(left, 5, 60)))
        _copy(cur, "admission", "entry_id, patient_id, unit_id, admitted_at, discharged_at, cause, signed_by, "
              "signed_at", admissions)
        report("admissions", len(admissions), len(admissions))

        # ---- the record of every open admission -------------------------------------------------
        diagnoses: list[tuple[Any, ...]] = []
        warnings: list[tuple[Any, ...]] = []
        orders: list[tuple[Any, ...]] = []
        stops: dict[uuid.UUID, tuple[int, datetime]] = {}   # entry -> (physician, stop_at)
        given: list[tuple[Any, ...]] = []
        referrals: list[list[Any]] = []
        results: list[tuple[int, tuple[Any, ...]]] = []     # (referral index, row without order number)
        for n, (patient, ward, admitted, case) in enumerate(open_stays):
            doctor = rng.choice(ward.physicians)
            t = clock.after(admitted, 10, 60)
            notes.append((new_uuid(), patient, ward.id, "inskrivning", "Inskrivningsanteckning",
                          f"Inkommer med {case.cause.lower()}. {case.intake}", t, doctor, clock.after(t, 2, 30)))
            for _ in range(rng.randint(1, 3)):
                t = clock.between(admitted + timedelta(hours=1), now - timedelta(minutes=35))
                if rng.random() < 0.5:
                    row = ("daganteckning", "Daganteckning", rng.choice(case.day_notes + GENERAL_DAY_NOTES),
                           rng.choice(ward.physicians))
                else:
                    row = ("omvardnad", "Omvårdnadsanteckning", rng.choice(CARE_NOTES), rng.choice(ward.nurses))
                notes.append((new_uuid(), patient, ward.id, *row[:3], t, row[3], clock.after(t, 2, 30)))
            t = clock.after(admitted, 20, 90)
            diagnoses.append((new_uuid(), patient, case.code, case.diagnosis, t, doctor, clock.after(t, 2, 20)))
            recorded = list(case.warnings)
            if n == 0:  # the demo patient: a penicillin allergy (and no penicillin ordered)
                recorded.append(("allergy", "Penicillinallergi", "high"))
            else:
                recorded += rng.sample(ALLERGIES, rng.choice((0, 0, 0, 1, 1, 2)))
            for kind, text, severity in recorded:
                t = clock.after(admitted, 5, 60)
                warnings.append((new_uuid(), patient, kind, text, severity, t, doctor, clock.after(t, 2, 20)))
            drugs: list[Drug] = list(case.drugs)
            if n == 0:
                drugs.append(PRIMPERAN)
            elif rng.random() < 0.6:
                drugs.append(rng.choice(EXTRA_PRN))
            chosen_drugs: list[Drug] = []
            for drug in drugs:  # an allergy rules a drug out: its alternative, else nothing
                candidate: Drug | None = drug
                while candidate is not None and allergy.matching_warnings(
                        [{"text": w[1]} for w in recorded], candidate.substance, candidate.drug):
                    candidate = candidate.instead
                if candidate is not None and candidate not in chosen_drugs:
                    chosen_drugs.append(candidate)
            for drug in chosen_drugs:
                entry, start = new_uuid(), clock.after(admitted, 30, 90)
                times = "{" + ",".join(drug.times) + "}"
                orders.append((entry, patient, ward.id, drug.drug, drug.strength, drug.dose, drug.route,
                               drug.frequency, times, drug.as_needed, drug.indication, start, doctor,
                               clock.after(start, 1, 10), drug.substance, drug.form, drug.prn_max))
                stop = None
                if n > 0 and rng.random() < 0.1:
                    stop = clock.between(start + timedelta(hours=1), now - timedelta(minutes=30))
                    stops[entry] = (rng.choice(ward.physicians), stop)
                end = min(stop or now, now - timedelta(minutes=15))
                since = max(start, now - timedelta(hours=24))
                if drug.as_needed:  # a few PRN doses, within the maximum, an hour or more apart
                    count = rng.randint(0, min(2, (drug.prn_max or 1) - (1 if n == 0 else 0)))
                    for k in range(count):
                        at = since + (end - since) * (k + 1) / (count + 1)
                        if at <= since:
                            continue
                        given.append((new_uuid(), patient, entry, "given", drug.dose, None, at, None,
                                      rng.choice(ward.nurses), clock.after(at, 1, 10)))
                    continue
                for day in (end.astimezone(_LOCAL).date() - timedelta(days=1), end.astimezone(_LOCAL).date()):
                    for hhmm in drug.times:
                        due = datetime.combine(day, dtime.fromisoformat(hhmm), _LOCAL).astimezone(UTC)
                        if not since <= due <= end:
                            continue
                        at = max(start, min(clock.after(due, -20, 40), now - timedelta(minutes=12)))
                        ok = rng.random() < 0.94
                        given.append((new_uuid(), patient, entry, "given" if ok else "not_given",
                                      drug.dose if ok else "", None if ok else rng.choice(NOT_GIVEN), at, due,
                                      rng.choice(ward.nurses), clock.after(at, 1, 10)))
            asked = [(True, tests, make) for tests, make in case.labs] + \
                [(False, tests, answer) for tests, answer in case.imaging]
            for lab, tests, answer in asked:
                t = clock.between(admitted + timedelta(minutes=20), now - timedelta(minutes=60))
                referrals.append([new_uuid(), patient, ward.id, None, "lab" if lab else "radiology", tests,
                                  f"Frågeställning: {case.diagnosis.lower()}?",
                                  "urgent" if rng.random() < 0.2 else "routine", t, doctor, clock.after(t, 1, 10)])
                if rng.random() < 0.6:
                    r = clock.between(t + timedelta(minutes=30), min(t + timedelta(hours=8),
                                                                     now - timedelta(minutes=10)))
                    abnormal = rng.random() < 0.5
                    text = answer(rng, abnormal) if callable(answer) else answer
                    abnormal = abnormal if callable(answer) else not text.startswith(("Ingen akut", "Normalstora"))
                    results.append((len(referrals) - 1, (new_uuid(), patient, text, abnormal, r,
                                                         rng.choice(ward.physicians), clock.after(r, 1, 15))))
            if (n + 1) % 1000 == 0:
                report("records", n + 1, len(open_stays))
        report("records", len(open_stays), len(open_stays))

        # order numbers come from the database, never invented
        for kind in ("lab", "radiology"):
            wanted = [r for r in referrals if r[4] == kind]
            numbers = cur.execute("SELECT next_order_number(%s) FROM generate_series(1, %s)",
                                  (kind, len(wanted))).fetchall()
            for referral, (number,) in zip(wanted, numbers, strict=True):
                referral[3] = number
        _copy(cur, "note", "entry_id, patient_id, unit_id, kind, title, body, clinical_at, signed_by, signed_at",
              notes)
        _copy(cur, "diagnosis", "entry_id, patient_id, code, text, clinical_at, signed_by, signed_at", diagnoses)
        _copy(cur, "warning", "entry_id, patient_id, kind, text, severity, clinical_at, signed_by, signed_at",
              warnings)
        order_cols = ("entry_id, patient_id, unit_id, drug, strength, dose, route, frequency, times, as_needed, "
                      "indication, start_at, signed_by, signed_at, substance, form, prn_max_per_24h")
        _copy(cur, "medication_order", order_cols, orders)
        # a stopped order is a second version superseding the first (entries are append-only)
        first: dict[uuid.UUID, int] = dict(cur.execute("SELECT entry_id, id FROM medication_order WHERE version = 1 AND entry_id = ANY(%s)",
                                 (list(stops),)).fetchall())
        def stop_row(o: tuple[Any, ...]) -> tuple[Any, ...]:
            by, at = stops[o[0]]
            why = STOP_REASONS[int(o[0]) % len(STOP_REASONS)]
            return (*o[:12], by, clock.after(at, 1, 10), *o[14:], 2, first[o[0]], at, why, why, by)

        _copy(cur, "medication_order", order_cols + ", version, supersedes, stop_at, reason, stop_reason, stopped_by",
              (stop_row(o) for o in orders if o[0] in stops))
        _copy(cur, "medication_administration", "entry_id, patient_id, order_entry, outcome, dose_given, "
              "not_given_reason, clinical_at, slot_at, signed_by, signed_at", given)
        _copy(cur, "referral", "entry_id, patient_id, unit_id, order_number, kind, tests, question, priority, "
              "clinical_at, signed_by, signed_at", referrals)
        _copy(cur, "referral_result", "entry_id, patient_id, order_number, text, abnormal, clinical_at, "
              "signed_by, signed_at", ((*row[:2], referrals[i][3], *row[2:]) for i, row in results))
        _copy(cur, "kit_fact", "patient_id, kind, value, staff_id, clinical_at, signed_by",
              _kit_facts(random.Random(seed + 60), open_stays))
        report("commit", 0, 1)
    with psycopg.connect(url, autocommit=True) as conn:
        report("analyze", 0, 1)
        conn.execute("ANALYZE")
        counts = {t: one(conn.execute(f"SELECT count(*) FROM {t}").fetchone())[0] for t in TABLES}
        report("analyze", 1, 1)
    return counts


def _kit_facts(rng: random.Random, open_stays: Sequence[tuple[Any, ...]]) -> Iterable[tuple[Any, ...]]:
    """Bed, responsible physician, weight (most) and code status (some) of each admitted patient
    (``kit_fact``, migration 0060); an rng of its own so the rest of the region stays as it was."""
    beds: dict[str, int] = {}
    for patient, ward, admitted, *_ in open_stays:
        doctor = rng.choice(ward.physicians)
        at = admitted + timedelta(minutes=30)
        beds[ward.id] = beds.get(ward.id, 0) + 1
        yield patient, "bed", f"{beds[ward.id]}{'AB'[rng.randrange(2)]}", None, at, doctor
        yield patient, "responsible_physician", "", doctor, at, doctor
        if rng.random() < 0.85:
            yield patient, "weight_kg", f"{rng.randint(45, 120)}.{rng.randint(0, 9)}", None, at, rng.choice(ward.nurses)
        if rng.random() < 0.3:
            yield patient, "code_status", "ej_hlr" if rng.random() < 0.5 else "hlr", None, at, doctor
