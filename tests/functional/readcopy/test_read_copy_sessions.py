"""Sessions that end, on a real read copy (a streaming standby served by `obruten serve --read-copy`).

A logout or deactivation on the journal reaches the read copy by replication; a logout on the read
copy (read-only database) is written to the primary it ships its audit to, and is in its spooled
audit; with the primary down it ends the session in that process only (docs/sessions.md). Login failures on the read copy
are counted in its process.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable

import httpx
import psycopg

from obruten.platform.auth import hash_password
from obruten.readcopy import spool
from obruten.readcopy.standby import wait_replayed

PASSWORD = "rätt-lösen-2"


def new_user(site, role: str = "nurse") -> tuple[int, str]:  # type: ignore[no-untyped-def]
    username = f"r{secrets.token_hex(4)}"
    with psycopg.connect(site.primary.url()) as c:
        (user_id,) = c.execute("INSERT INTO staff (username, full_name, role, password_hash) VALUES (%s, %s, %s, %s)"
                               " RETURNING id", (username, "Läs Kopia", role, hash_password(PASSWORD))).fetchone()
        c.execute("INSERT INTO staff_unit (staff_id, unit_id) SELECT %s, su.unit_id FROM staff_unit su"
                  " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare'", (user_id,))
    wait_replayed(site.primary.url(), site.standby.url())
    return user_id, username


def login(base: str, username: str, password: str = PASSWORD, client: str = "10.88.0.1") -> httpx.Response:
    with httpx.Client(base_url=base, timeout=30) as c:
        return c.post("/api/v1/login", json={"username": username, "password": password},
                      headers={"X-Forwarded-For": client})


def bearer(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})


def poll(check: Callable[[], bool], seconds: float = 15.0) -> float:
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - start


def test_a_logout_on_the_journal_ends_the_session_on_the_read_copy(site) -> None:  # type: ignore[no-untyped-def]
    _, username = new_user(site)
    token = login(site.journal, username).json()["token"]
    with bearer(site.read_copy, token) as rc, bearer(site.journal, token) as journal:
        assert rc.get("/api/v1/units").status_code == 200
        assert journal.post("/api/v1/logout").json() == {"logged_out": True, "everywhere": True}
        took = poll(lambda: rc.get("/api/v1/units").status_code == 401)
    assert took < 5, took


def test_deactivation_on_the_journal_ends_a_read_copy_session(site) -> None:  # type: ignore[no-untyped-def]
    user_id, username = new_user(site)
    _, admin_name = new_user(site, role="admin")
    token = login(site.read_copy, username).json()["token"]
    admin = httpx.Client(base_url=site.journal, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin.get("/login").text).group(1)  # type: ignore[union-attr]
    assert admin.post("/login", data={"username": admin_name, "password": PASSWORD, "csrf": csrf}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"', admin.get("/admin/users").text).group(1)  # type: ignore[union-attr]
    with bearer(site.read_copy, token) as rc:
        assert rc.get("/api/v1/units").status_code == 200
        assert admin.post(f"/admin/users/{user_id}/active", data={"csrf": csrf, "active": "0"}).status_code == 303
        took = poll(lambda: rc.get("/api/v1/units").status_code == 401)
    assert took < 5, took
    admin.close()


def test_a_logout_on_the_read_copy_is_recorded_on_the_primary_and_spooled(site) -> None:  # type: ignore[no-untyped-def]
    _, username = new_user(site)
    token = login(site.read_copy, username).json()["token"]
    with bearer(site.read_copy, token) as rc, bearer(site.journal, token) as journal:
        # the read copy knows the primary (--primary-url): the logout is written there, so every node
        # (other read copies behind the balancer included) learns it; with the primary down it stays local
        assert rc.post("/api/v1/logout").json() == {"logged_out": True, "everywhere": True}
        assert rc.get("/api/v1/units").status_code == 401
        poll(lambda: journal.get("/api/v1/units").status_code == 401)
    events = list(spool.read_events(site.read_copy_var / "spool" / "read-copy" / spool.SPOOL_FILE))
    assert any(e.event.action == "logout" and e.event.actor == username for e in events)


def test_login_failures_on_the_read_copy_lock_the_account_there(site) -> None:  # type: ignore[no-untyped-def]
    _, username = new_user(site)
    for _ in range(5):
        assert login(site.read_copy, username, "fel", "10.88.0.2").status_code == 401
    refused = login(site.read_copy, username, PASSWORD, "10.88.0.3")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    events = list(spool.read_events(site.read_copy_var / "spool" / "read-copy" / spool.SPOOL_FILE))
    assert any(e.event.action == "login_throttled" and e.event.actor == username for e in events)
