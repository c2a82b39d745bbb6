"""Simulated staff for the load benchmarks: bench logins on the region's busiest wards, each
logged in once (a real login costs an Argon2 hash) with the patients and medication orders it
may open. Imported as ``_staff``."""

from __future__ import annotations

from dataclasses import dataclass

from _http import http_json
from obruten.record import staff


@dataclass
class Login:
    username: str
    token: str
    unit: str
    patients: list[int]  # admitted on the unit
    orders: dict[int, list[str]]  # patient -> medication order entry ids


async def add_bench_staff(url: str, per_unit: int, max_units: int) -> list[str]:
    """A physician and a nurse (password 'demo') on each of the busiest wards."""
    import psycopg

    names: list[str] = []
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT unit_id FROM admission_current WHERE discharged_at IS NULL GROUP BY unit_id"
            " ORDER BY count(*) DESC, unit_id LIMIT %s", (max_units,))
        units = [r[0] for r in await cur.fetchall()]
        for unit in units:
            for role in ("physician", "nurse")[:per_unit]:
                name = f"bench-{role[:3]}-{unit.lower()}"
                await staff.create(conn, name, f"Bench {role} {unit}", role, "demo", [unit])
                names.append(name)
    return names


def log_in_all(base: str, usernames: list[str], standby_url: str) -> list[Login]:
    import psycopg

    logins: list[Login] = []
    for name in usernames:
        answer = http_json(base + "/api/v1/login", {"username": name, "password": "demo"})
        assert isinstance(answer, dict)
        unit = answer["user"]["units"][0]
        ward = http_json(f"{base}/api/v1/units/{unit}/patients", token=answer["token"])
        assert isinstance(ward, list)
        logins.append(Login(name, answer["token"], unit, [int(p["id"]) for p in ward], {}))
    with psycopg.connect(standby_url) as conn:
        for login in logins:
            for patient, entry in conn.execute(
                    "SELECT patient_id, entry_id::text FROM medication_order_current WHERE patient_id = ANY(%s)",
                    (login.patients,)):
                login.orders.setdefault(patient, []).append(entry)
    return [login for login in logins if login.patients]
