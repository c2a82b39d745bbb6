"""Staff accounts: login lookup, creation, passwords, care units."""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.rows import dict_row

from obruten.platform.auth import ROLES, Session, check_password, hash_password
from obruten.platform.errors import Conflict, Invalid, NotFound


async def authenticate(conn: psycopg.AsyncConnection, username: str, password: str) -> Session | None:
    """The session for valid credentials, else None (same cost either way)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT s.id, s.username, s.full_name, s.role, s.password_hash, s.active,"
            " COALESCE(array_agg(su.unit_id ORDER BY su.unit_id) FILTER (WHERE su.unit_id IS NOT NULL), '{}') AS units"
            " FROM staff s LEFT JOIN staff_unit su ON su.staff_id = s.id WHERE s.username = %s GROUP BY s.id",
            (username.strip().lower(),))
        row = await cur.fetchone()
    # argon2 takes tens of milliseconds of CPU: never on the event loop (it would stall every request)
    ok = await asyncio.to_thread(check_password, row["password_hash"] if row else None, password)
    if not ok or row is None or not row["active"]:
        return None
    return Session(user_id=row["id"], username=row["username"], full_name=row["full_name"], role=row["role"],
                   units=tuple(row["units"]))


async def is_active(conn: psycopg.AsyncConnection, user_id: int) -> bool:
    cur = await conn.execute("SELECT active FROM staff WHERE id = %s", (user_id,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def create(conn: psycopg.AsyncConnection, username: str, full_name: str, role: str, password: str | None,
                 units: list[str]) -> int:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    if password is not None and len(password) < 4:
        raise Invalid("password is too short")
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
    try:
        async with conn.transaction():
            cur = await conn.execute(
                "INSERT INTO staff (username, full_name, role, password_hash) VALUES (%s, %s, %s, %s) RETURNING id",
                (username.strip().lower(), full_name.strip(), role, password_hash))
            (user_id,) = await cur.fetchone()  # type: ignore[misc]
            for unit in units:
                await conn.execute("INSERT INTO staff_unit (staff_id, unit_id) VALUES (%s, %s)", (user_id, unit))
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"username {username!r} is taken") from exc
    except psycopg.errors.ForeignKeyViolation as exc:
        raise Invalid("unknown care unit") from exc
    except psycopg.errors.CheckViolation as exc:
        raise Invalid("username must be 2–40 of a-z, 0-9, '.', '_', '-'") from exc
    return user_id


async def set_password(conn: psycopg.AsyncConnection, username: str, password: str) -> None:
    if len(password) < 4:
        raise Invalid("password is too short")
    password_hash = await asyncio.to_thread(hash_password, password)
    cur = await conn.execute("UPDATE staff SET password_hash = %s WHERE username = %s", (password_hash, username))
    if cur.rowcount == 0:
        raise NotFound(f"no user {username!r}")


async def set_active(conn: psycopg.AsyncConnection, user_id: int, active: bool) -> None:
    cur = await conn.execute("UPDATE staff SET active = %s WHERE id = %s", (active, user_id))
    if cur.rowcount == 0:
        raise NotFound(f"no user {user_id}")


async def listing(conn: psycopg.AsyncConnection, limit: int = 200, query: str = "") -> list[dict]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT s.id, s.username, s.full_name, s.role, s.active, s.password_hash IS NOT NULL AS can_login,"
            " COALESCE(array_agg(su.unit_id ORDER BY su.unit_id) FILTER (WHERE su.unit_id IS NOT NULL), '{}') AS units"
            " FROM staff s LEFT JOIN staff_unit su ON su.staff_id = s.id"
            " WHERE %s = '' OR s.username ILIKE %s OR s.full_name ILIKE %s"
            " GROUP BY s.id ORDER BY s.password_hash IS NULL, s.username LIMIT %s",
            (query, f"%{query}%", f"%{query}%", limit))
        return await cur.fetchall()
