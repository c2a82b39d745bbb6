"""The read copy end to end: a real primary, a real streaming standby, `obruten serve --read-copy`.

Normal operation, the primary SIGKILLed, the primary back. The tests share one site, so each one sets
up the state it needs (``primary_up``, or an outage of its own) and they pass in any order.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

import pgtools
from obruten.readcopy import spool
from obruten.readcopy.standby import wait_replayed
from obruten.record import audit
from pgtools import wait_for

READ_ONLY_SV = "Läskopian är skrivskyddad – dokumentera i journalen / enligt reservrutin"


def spooled(site) -> list[spool.SpooledEvent]:  # type: ignore[no-untyped-def]
    return list(spool.read_events(site.read_copy_var / "spool" / "read-copy" / spool.SPOOL_FILE))


@pytest.fixture(scope="module")
def patient(site) -> int:  # type: ignore[no-untyped-def]
    with pgtools.login(site.read_copy, "lakare") as doctor:  # the read copy answers with or without the primary
        ward = doctor.get(f"/api/v1/units/{doctor.units[0]}/patients").json()
    return int(ward[0]["id"])


@pytest.fixture
def primary_up(site):  # type: ignore[no-untyped-def]
    """The primary running and the read copy current and streaming from it (a test may have killed it)."""
    if not site.primary.is_running():
        site.primary.start()
    wait_for(lambda: (s := httpx.get(site.read_copy + "/api/v1/read-copy").json())["streaming"] and not s["stale"],
             60, "the read copy to stream from the primary")
    wait_for(lambda: httpx.get(site.journal + "/api/v1/health").status_code == 200, 60, "the journal to answer")
    return site


def stranger_to(site, nurse, nth: int = 0) -> int:  # type: ignore[no-untyped-def]
    """The ``nth`` patient outside the nurse's units (no care relation: emergency access is needed; a
    grant lasts, so each test that grants one takes its own patient)."""
    with psycopg.connect(site.standby.url()) as c:
        return c.execute("SELECT id FROM patient WHERE id NOT IN (SELECT patient_id FROM admission_current"
                         " WHERE unit_id = ANY(%s)) ORDER BY id LIMIT 1 OFFSET %s", (nurse.units, nth)).fetchone()[0]

def test_a_note_written_on_the_primary_shows_on_the_read_copy_with_the_banner(primary_up, site, patient, login) -> None:  # type: ignore[no-untyped-def]
    title = f"Läskopiekontroll {uuid.uuid4().hex[:8]}"
    r = login(site.journal, "sjukskoterska").post(f"/api/v1/patients/{patient}/notes",
                                                  json={"kind": "omvardnad", "title": title, "body": "Mår bra."})
    assert r.status_code == 201, r.text
    wait_replayed(site.primary.url(), site.standby.url())
    nurse = login(site.read_copy, "sjukskoterska")
    page = nurse.get(f"/patients/{patient}")
    assert page.status_code == 200 and title in page.text
    assert 'id="read-copy-banner"' in page.text and "Läskopia — uppgifter per" in page.text
    assert "s efter)" in page.text and 'class="readcopy"' in page.text
    assert "@media print" in page.text  # the banner stays on printouts
    nurse.cookies.set("lang", "en")  # (per-request cookies are deprecated in httpx)
    english = nurse.get(f"/patients/{patient}")
    assert "Read copy — data as of" in english.text and "s behind)" in english.text


def test_an_idle_primary_does_not_make_the_copy_look_behind(primary_up, site, patient) -> None:  # type: ignore[no-untyped-def]
    with pgtools.login(site.journal, "sjukskoterska") as nurse:  # one commit to replay, then nothing
        r = nurse.post(f"/api/v1/patients/{patient}/notes", json={"kind": "omvardnad", "title": "Före", "body": "x"})
        assert r.status_code == 201, r.text
    with psycopg.connect(site.standby.url(), autocommit=True) as c:
        wait_for(lambda: c.execute("SELECT clock_timestamp() - pg_last_xact_replay_timestamp() > interval '4 s'")
                 .fetchone()[0], 60, "the last replayed commit to be older than the staleness limit")
    idle_since = datetime.now(UTC)
    # the tracker's next observation: a current copy dates itself "now"; one that looks behind keeps the
    # last commit's time (and this wait fails)
    status = wait_for(lambda: (s := httpx.get(site.read_copy + "/api/v1/read-copy").json())
                      and datetime.fromisoformat(s["as_of"]) >= idle_since and s, 10,
                      "the lag tracker to date the idle copy after the idle point")
    assert status["lag_seconds"] == 0 and status["stale"] is False and status["streaming"] is True
    assert set(status) >= {"as_of", "lag_seconds", "stale"}


def test_every_write_is_refused_with_the_reason(site, patient, login) -> None:  # type: ignore[no-untyped-def]
    nurse = login(site.read_copy, "sjukskoterska")
    r = nurse.post(f"/api/v1/patients/{patient}/notes", json={"kind": "omvardnad", "body": "x"})
    assert r.status_code == 503 and "read-only" in r.json()["error"] and r.json()["read_copy"] is True
    admin = login(site.read_copy, "admin")
    assert admin.post("/admin/users", data={"username": "ny"}).status_code == 503
    for path in (f"/patients/{patient}/note/new", f"/patients/{patient}/notes"):
        page = nurse.get(path) if path.endswith("/new") else nurse.post(path, data={"body": "x"})
        assert page.status_code == 503 and READ_ONLY_SV in page.text
    overview = nurse.get(f"/patients/{patient}").text
    assert f'href="/patients/{patient}/note/new"' not in overview  # no write link on the read copy


@pytest.mark.browser
def test_in_chromium_the_banner_shows_and_prints_and_write_links_are_hidden(site, patient, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import io
    import shutil

    from playwright.sync_api import sync_playwright
    from pypdf import PdfReader

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--disable-sync"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.goto(site.read_copy + "/login")
        page.fill("input[name=username]", "sjukskoterska")
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_url("**/ward/**")
        assert page.locator("#read-copy-banner").is_visible()
        page.goto(f"{site.read_copy}/patients/{patient}")
        assert "Läskopia — uppgifter per" in page.locator("#read-copy-banner").inner_text()
        assert not page.locator("text=Skriv anteckning").is_visible()
        # not hidden but absent: no write link or form is in the page at all (15.8)
        assert page.locator("a[href$='/note/new'], a[href$='/correct'], form[method=post][action*='/medication']"
                            ).count() == 0
        assert page.get_by_text("Administrera").count() == 0
        page.emulate_media(media="print")
        assert page.locator("#read-copy-banner").is_visible()
        text = "".join(pg.extract_text() for pg in PdfReader(io.BytesIO(page.pdf())).pages)
        browser.close()
    assert "Läskopia" in text and "s efter" in text


@pytest.mark.fault
def test_with_the_primary_killed_users_log_in_and_read_and_every_read_is_spooled(primary_up, site, patient, login,
                                                                                  http) -> None:  # type: ignore[no-untyped-def]
    before = len(spooled(site))
    site.primary.kill()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(site.primary.url(), connect_timeout=2)

    # a fresh login on the read copy (accounts come from the replica; sessions need no writes)
    browser = http(site.read_copy, timeout=15)
    form = browser.get("/login")
    csrf = form.cookies.get("obruten_csrf") or browser.cookies.get("obruten_csrf")
    r = browser.post("/login", data={"username": "lakare", "password": "demo", "csrf": csrf, "next": "/"})
    assert r.status_code == 303, r.text
    page = browser.get(f"/patients/{patient}")
    assert page.status_code == 200

    # emergency access is granted locally (spooled) and opens a record outside the care relation
    nurse = login(site.read_copy, "sjukskoterska")
    stranger = stranger_to(site, nurse)
    assert nurse.get(f"/api/v1/patients/{stranger}").status_code == 403
    granted = nurse.post(f"/api/v1/patients/{stranger}/emergency-access", json={"reason": "Akut, journalen nere"})
    assert granted.status_code == 201 and granted.json()["local"] is True
    assert nurse.get(f"/api/v1/patients/{stranger}").status_code == 200

    events = spooled(site)[before:]
    actions = [(e.event.action, e.event.patient_id, e.event.actor) for e in events]
    assert ("login", None, "lakare") in actions
    assert ("read", patient, "lakare") in actions
    assert ("emergency_access", stranger, "sjukskoterska") in actions
    assert ("read", stranger, "sjukskoterska") in actions
    assert spool.verify(site.read_copy_var / "spool" / "read-copy" / spool.SPOOL_FILE).ok

    # the copy cannot know what it misses: its lag grows and the banner turns red
    wait_for(lambda: httpx.get(site.read_copy + "/api/v1/read-copy").json()["stale"], 60, "the banner to turn red")
    assert 'class="readcopy readcopy-stale"' in browser.get(f"/patients/{patient}").text


@pytest.mark.fault
def test_when_the_primary_returns_the_spool_is_shipped_exactly_once(site, login) -> None:  # type: ignore[no-untyped-def]
    # an outage of its own: an emergency grant and a read are spooled while the primary is down
    if site.primary.is_running():
        site.primary.kill()
    nurse = login(site.read_copy, "sjukskoterska")
    stranger = stranger_to(site, nurse, nth=1)
    granted = nurse.post(f"/api/v1/patients/{stranger}/emergency-access", json={"reason": "Akut, journalen nere"})
    assert granted.status_code == 201 and granted.json()["local"] is True
    assert nurse.get(f"/api/v1/patients/{stranger}").status_code == 200
    site.primary.start()
    total = len(spooled(site))
    with psycopg.connect(site.primary.url(), autocommit=True) as c:
        wait_for(lambda: c.execute("SELECT count(*) FROM audit_event WHERE node = 'read-copy'").fetchone()[0] >= total,
                 90, "the shipper to ship the spool")
        count, distinct, top = c.execute("SELECT count(*), count(DISTINCT source_seq), max(source_seq) FROM audit_event"
                                         " WHERE node = 'read-copy'").fetchone()
        grant = c.execute("SELECT purpose, detail FROM audit_event WHERE node = 'read-copy'"
                          " AND action = 'emergency_access'").fetchone()
    assert count == distinct == top >= total
    assert grant[0] == "nödåtkomst" and grant[1]["reason"] == "Akut, journalen nere" and grant[1]["local"] is True
    assert audit.verify(site.primary.url()).ok
    assert spool.verify(site.read_copy_var / "spool" / "read-copy" / spool.SPOOL_FILE).ok
    status = wait_for(lambda: (s := httpx.get(site.read_copy + "/api/v1/read-copy").json())["stale"] is False and s,
                      60, "the read copy to catch up again")
    assert status["streaming"] is True


def _journal_write_routes(site) -> list[tuple[str, re.Pattern[str]]]:  # type: ignore[no-untyped-def]
    """Every write route of the journal app, (method, path pattern): its POST/PUT/PATCH/DELETE routes
    and the GET pages that only show a write form."""
    from fastapi.routing import APIRoute
    from starlette.routing import compile_path

    from obruten.platform import config as config_mod
    from obruten.record.app import create_app

    def walk(routes, prefix=""):  # type: ignore[no-untyped-def]  # FastAPI 0.165 keeps included routers whole
        for route in routes:
            if isinstance(route, APIRoute):
                yield prefix + route.path, route.methods
            elif hasattr(route, "original_router"):
                yield from walk(route.original_router.routes, prefix + route.include_context.prefix)

    cfg = config_mod.load(environ={}, var_dir=site.base / "routes-var", secret_key="r" * 48)
    routes = []
    for path, methods in walk(create_app(cfg, site.primary.url()).routes):
        for method in methods - {"HEAD", "OPTIONS"}:
            if method != "GET" or path.endswith(("/new", "/correct", "/result", "/edit")):
                routes.append((method, compile_path(path)[0]))
    assert any(m == "POST" for m, _ in routes) and any(m == "GET" for m, _ in routes)
    return routes


# what a read-copy page may still post: logging in and out, emergency access (granted locally)
_READ_COPY_POSTS = re.compile(r"^/(login|logout|patients/\d+/emergency-access)$")


def test_no_read_copy_page_links_a_write_route(site, patient, login) -> None:  # type: ignore[no-untyped-def]
    """15.8: crawl the read copy as a nurse, a physician and an admin; no link or form on any page
    leads to one of the journal's write routes, and no write verb is shown."""
    from html.parser import HTMLParser

    class Targets(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[tuple[str, str]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = {k: v or "" for k, v in attrs}
            if tag == "a" and "href" in a:
                self.found.append(("GET", a["href"]))
            if tag == "form":
                self.found.append((a.get("method", "get").upper(), a.get("action", "")))

    writes = _journal_write_routes(site)
    crawled = 0
    for user in ("sjukskoterska", "lakare", "admin"):
        client = login(site.read_copy, user)
        queue, seen = ["/", "/units", f"/patients/{patient}", "/admin/users", "/admin/access-log"], set()
        while queue and len(seen) < 25:
            path = queue.pop(0)
            if path in seen:
                continue
            seen.add(path)
            page = client.get(path, follow_redirects=True)
            if "text/html" not in page.headers.get("content-type", ""):
                continue
            crawled += 1
            for word in ("Administrera", "Skriv anteckning", "Rätta<", "Ordinera läkemedel", "Skapa remiss",
                         "Registrera svar"):
                assert word not in page.text, f"{word!r} on the read copy's {path} as {user}"
            targets = Targets()
            targets.feed(page.text)
            for method, href in targets.found:
                target = urlsplit(href).path
                if not target.startswith("/"):
                    continue
                if method == "POST" and _READ_COPY_POSTS.match(target):
                    continue
                hit = [m for m, rx in writes if m == method and rx.match(target)]
                assert not hit, f"{path} ({user}) links the write route {method} {target}"
                if method == "GET" and not target.startswith(("/logout", "/lang/", "/static/")) \
                        and target.count("/") <= 4:
                    queue.append(target)
    assert crawled >= 10
