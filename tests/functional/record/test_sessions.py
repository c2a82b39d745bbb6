"""Sessions that end, login throttling and cookie flags: the journal over real HTTP and PostgreSQL.

Each test logs in as an account of its own, and from an address of its own (``X-Forwarded-For``,
trusted from 127.0.0.1 as uvicorn does by default), so throttling here never locks out another
test's logins.
"""

from __future__ import annotations

import itertools
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest
from starlette.requests import Request

from obruten.platform import config as config_mod
from obruten.platform.auth import hash_password
from obruten.platform.cookies import cookie_flags
from obruten.record.app import create_app
from obruten.record.schema import app_url
from pgtools import Served, reachable_tempdir

PASSWORD = "rätt-lösen-1"
_addresses = itertools.count(1)


def address() -> str:
    """A client address no other test uses."""
    n = next(_addresses)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def new_user(db_url: str, role: str = "nurse") -> tuple[int, str]:
    """A fresh active account on lakare's care units, with ``PASSWORD``."""
    username = f"s{secrets.token_hex(4)}"
    with psycopg.connect(db_url) as c:
        (user_id,) = c.execute("INSERT INTO staff (username, full_name, role, password_hash) VALUES (%s, %s, %s, %s)"
                               " RETURNING id", (username, "Test Testsson", role, hash_password(PASSWORD))).fetchone()
        c.execute("INSERT INTO staff_unit (staff_id, unit_id) SELECT %s, su.unit_id FROM staff_unit su"
                  " JOIN staff s ON s.id = su.staff_id WHERE s.username = 'lakare'", (user_id,))
    return user_id, username


def api_login(base: str, username: str, password: str = PASSWORD, client: str | None = None) -> httpx.Response:
    with httpx.Client(base_url=base, timeout=30) as c:
        return c.post("/api/v1/login", json={"username": username, "password": password},
                      headers={"X-Forwarded-For": client or address()})


def token_of(base: str, username: str) -> str:
    r = api_login(base, username)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


def bearer(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})


def poll(check: Callable[[], bool], seconds: float = 10.0) -> float:
    """Seconds until ``check()`` holds (polled), failing at the deadline."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - start


def page_login(base: str, username: str, password: str = PASSWORD, client: str | None = None,
               https: bool = False) -> tuple[httpx.Client, httpx.Response]:
    """Log in through the login form (CSRF double-submit); returns the browser and the answer."""
    headers = {"X-Forwarded-For": client or address()}
    if https:
        headers["X-Forwarded-Proto"] = "https"
    browser = httpx.Client(base_url=base, timeout=30, headers=headers)
    form = browser.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf, form.text
    # a Secure cookie (over "https") is not sent back over plain http by the client: send it by hand
    extra = {"Cookie": f"obruten_csrf={form.cookies['obruten_csrf']}"} if https else None
    r = browser.post("/login", data={"username": username, "password": password, "csrf": csrf.group(1), "next": "/"},
                     headers=extra)
    return browser, r


def csrf_on(browser: httpx.Client, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get(path).text)
    assert found, f"no form on {path}"
    return found.group(1)


def events(db_url: str, action: str, actor: str) -> list[dict]:
    with psycopg.connect(db_url) as c:
        return [row[0] for row in c.execute("SELECT detail FROM audit_event WHERE action = %s AND actor = %s"
                                            " ORDER BY id", (action, actor))]


# ---- logout --------------------------------------------------------------------------------------
def test_api_logout_ends_the_token_for_the_api_and_the_pages(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    token = token_of(journal_server.base, username)
    with bearer(journal_server.base, token) as api:
        assert api.get("/api/v1/units").status_code == 200
        r = api.post("/api/v1/logout")
        assert r.status_code == 200 and r.json() == {"logged_out": True, "everywhere": True}
        assert api.get("/api/v1/units").status_code == 401
        assert api.post("/api/v1/logout").status_code == 401
    with httpx.Client(base_url=journal_server.base, cookies={"obruten_session": token}) as page:
        r = page.get("/units")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert events(journal_server.db_url, "logout", username)[0]["everywhere"] is True


def test_page_logout_ends_the_cookie_even_when_a_copy_is_replayed(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    browser, r = page_login(journal_server.base, username)
    assert r.status_code == 303, r.text
    token = browser.cookies["obruten_session"]
    assert browser.get("/units").status_code == 200
    r = browser.post("/logout", data={"csrf": csrf_on(browser, "/units")})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    with httpx.Client(base_url=journal_server.base, cookies={"obruten_session": token}) as replay:
        assert replay.get("/units").status_code == 303
    with bearer(journal_server.base, token) as api:
        assert api.get("/api/v1/units").status_code == 401
    browser.close()


@pytest.fixture(scope="module")
def second_node(journal_server) -> Iterator[str]:
    """Another journal process over the same database with the same key (another worker or node)."""
    var_dir = reachable_tempdir("obruten-second-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="test-secret-" + "x" * 40)
    served = Served(create_app(cfg, app_url(journal_server.db_url, var_dir / "app-password")), what="a second node")
    yield served.base
    served.stop()
    shutil.rmtree(var_dir, ignore_errors=True)


def test_a_logout_on_one_node_ends_the_session_on_another_within_seconds(journal_server, second_node) -> None:
    _, username = new_user(journal_server.db_url)
    for where, other in ((journal_server.base, second_node), (second_node, journal_server.base)):
        token = token_of(where, username)
        with bearer(other, token) as there, bearer(where, token) as here:
            assert there.get("/api/v1/units").status_code == 200
            assert here.post("/api/v1/logout").status_code == 200
            took = poll(lambda there=there: there.get("/api/v1/units").status_code == 401)  # type: ignore[misc]
        assert took < 3, took


# ---- deactivation ----------------------------------------------------------------------------------
def test_deactivating_an_account_ends_its_live_sessions_within_seconds(journal_server, second_node) -> None:
    user_id, username = new_user(journal_server.db_url)
    _, admin_name = new_user(journal_server.db_url, role="admin")
    token = token_of(journal_server.base, username)
    admin, r = page_login(journal_server.base, admin_name)
    assert r.status_code == 303
    with bearer(journal_server.base, token) as here, bearer(second_node, token) as there:
        assert here.get("/api/v1/units").status_code == 200 and there.get("/api/v1/units").status_code == 200
        r = admin.post(f"/admin/users/{user_id}/active", data={"csrf": csrf_on(admin, "/admin/users"), "active": "0"})
        assert r.status_code == 303, r.text
        took = poll(lambda: here.get("/api/v1/units").status_code == 401
                    and there.get("/api/v1/units").status_code == 401)
    assert took < 3, took
    assert api_login(journal_server.base, username).status_code == 401
    admin.close()


# ---- throttling ------------------------------------------------------------------------------------
def test_an_account_is_locked_after_five_failures_even_for_the_right_password(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    client = address()
    for _ in range(5):
        assert api_login(journal_server.base, username, "fel", client).status_code == 401
    refused = api_login(journal_server.base, username, "fel", client)
    assert refused.status_code == 429
    retry = int(refused.headers["Retry-After"])
    assert 0 < retry <= 60
    assert "Försök igen om 1 min" in refused.json()["error"] and "IT-supporten" in refused.json()["error"]
    assert api_login(journal_server.base, username, PASSWORD, client).status_code == 429  # the right password
    assert api_login(journal_server.base, username, PASSWORD, address()).status_code == 429  # from elsewhere
    with httpx.Client(base_url=journal_server.base, cookies={"lang": "en"}) as c:
        r = c.post("/api/v1/login", json={"username": username, "password": PASSWORD},
                   headers={"X-Forwarded-For": address()})
    assert r.status_code == 429 and "call IT support" in r.json()["error"]
    throttled = events(journal_server.db_url, "login_throttled", username)
    # four refusals of one lock-out: audited once (hammering a locked account cannot flood the log)
    assert len(throttled) == 1 and throttled[0]["by"] == "account" and throttled[0]["failures"] == 5
    assert len(events(journal_server.db_url, "login_failed", username)) == 5
    # the login page says so too, with the same status and Retry-After
    browser, r = page_login(journal_server.base, username)
    assert r.status_code == 429 and "Retry-After" in r.headers and "IT-supporten" in r.text
    browser.close()


def test_an_address_is_locked_after_thirty_failures_for_any_accounts(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    client = address()
    for i in range(30):
        assert api_login(journal_server.base, f"gissning{i}", "fel", client).status_code == 401
    refused = api_login(journal_server.base, username, PASSWORD, client)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert events(journal_server.db_url, "login_throttled", username)[-1]["by"] == "client"
    assert api_login(journal_server.base, username, PASSWORD).status_code == 200  # from another address


def test_admins_see_the_accounts_and_addresses_refused_now(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    _, admin_name = new_user(journal_server.db_url, role="admin")
    client = address()
    for _ in range(5):
        assert api_login(journal_server.base, username, "fel", client).status_code == 401
    admin, r = page_login(journal_server.base, admin_name)
    page = admin.get("/admin/users")
    assert page.status_code == 200
    section = page.text.split('id="throttled"', 1)[1]
    assert username in section and "konto" in section
    admin.close()


# ---- cookies ------------------------------------------------------------------------------------------
def test_session_and_csrf_cookies_are_httponly_lax_and_secure_over_tls(journal_server) -> None:
    _, username = new_user(journal_server.db_url)
    for https in (False, True):
        browser, r = page_login(journal_server.base, username, https=https)
        assert r.status_code == 303, (r.status_code, r.text[:300])
        cookie = next(v for v in r.headers.get_list("set-cookie") if v.startswith("obruten_session="))
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax"} <= flags
        assert ("secure" in flags) is https
        form = browser.get("/login")
        csrf = [v for v in form.headers.get_list("set-cookie") if v.startswith("obruten_csrf=")]
        assert all(("secure" in v.lower()) is https and "httponly" in v.lower() for v in csrf)
        browser.close()


def test_a_client_cannot_claim_tls_without_a_trusted_proxy() -> None:
    plain = Request({"type": "http", "scheme": "http", "path": "/", "headers": [(b"x-forwarded-proto", b"https")],
                     "server": ("h", 80), "query_string": b""})
    assert cookie_flags(plain)["secure"] is False  # only uvicorn's proxy handling (trusted peers) sets the scheme
