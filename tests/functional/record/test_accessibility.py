"""Every journal page a nurse, a physician and an admin reach, on a phone, a ward tablet and a desktop,
in real headless Chromium: axe-core finds no serious or critical violation, nothing scrolls sideways,
every field has a label tied to it, and the controls are big enough to hit with a finger.

axe-core is the copy bundled in the ``axe-playwright-python`` wheel (ADR 0055): no network at test
time. It is evaluated in the page through the DevTools protocol, which the pages' Content Security
Policy (``script-src 'none'``) does not govern, so the pages are checked exactly as they are served.
"""

from __future__ import annotations

import importlib.resources
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from obruten.platform import config as config_mod
from obruten.platform.signing import load_or_create_key
from obruten.record.app import create_app
from obruten.record.schema import app_url
from pgtools import Served, free_port, reachable_tempdir
from postreg_helpers import administration, agent_token, batch, note, patient_with_order
from unit.status.conftest import make_doc, trust

pytestmark = pytest.mark.browser

AXE_JS = importlib.resources.files("axe_playwright_python").joinpath("axe.min.js").read_text(encoding="utf-8")
VIEWPORTS = {"phone": (375, 812), "tablet": (768, 1024), "desktop": (1366, 768)}
TOUCH = 44  # px: the smallest control a finger hits reliably (WCAG 2.5.5), on phone and tablet
BLOCKING = ("serious", "critical")

# every input, select and textarea a user fills in must have a <label> tied to it (for= or wrapping)
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => el.labels === null || el.labels.length === 0)
  .map(el => el.outerHTML.slice(0, 120))"""

# controls smaller than TOUCH px (a checkbox or radio counts by its label, which toggles it too)
SMALL_TARGETS_JS = """(min) => {
  const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0
    && getComputedStyle(el).visibility !== 'hidden'; };
  const targets = [...document.querySelectorAll(
      'button, select, textarea, input, header.top a, nav a, .actions a, a.button, a.slot')]
    .filter(el => !['hidden'].includes(el.type))
    .map(el => (el.type === 'checkbox' || el.type === 'radio') ? (el.closest('label') || el.labels[0] || el) : el)
    .filter(visible);
  return [...new Set(targets)].filter(el => { const r = el.getBoundingClientRect();
      return r.height < min - 0.5 || r.width < min - 0.5; })
    .map(el => `${el.outerHTML.slice(0, 90)} (${Math.round(el.getBoundingClientRect().width)}x${
               Math.round(el.getBoundingClientRect().height)})`);
}"""

# wider than the window, and which elements stick out (those inside a scroll box of their own are fine)
OVERFLOW_JS = """() => {
  const width = window.innerWidth, scroll = document.documentElement.scrollWidth;
  if (scroll <= width) return {scroll, width, wide: []};
  const wide = [...document.querySelectorAll('body *')].filter(el => {
    if (el.getBoundingClientRect().right <= width + 0.5) return false;
    for (let p = el.parentElement; p; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll' || o === 'hidden') return false; }
    return true; }).slice(0, 3).map(el => el.outerHTML.slice(0, 90));
  return {scroll, width, wide};
}"""


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def check(self, page: Any, name: str) -> None:
        """Check the page as it is now at every viewport; note what fails under ``name``."""
        self.visited.append(name)
        page.evaluate(AXE_JS)
        unlabelled = page.evaluate(UNLABELLED_JS)
        if unlabelled:
            self.problems.append(f"{name}: fields without a label: {unlabelled}")
        for size, (width, height) in VIEWPORTS.items():
            page.set_viewport_size({"width": width, "height": height})
            where = f"{name} [{size} {width}x{height}]"
            overflow = page.evaluate(OVERFLOW_JS)
            if overflow["scroll"] > overflow["width"]:
                self.problems.append(f"{where}: scrolls sideways ({overflow['scroll']} px > {overflow['width']} px): "
                                     f"{overflow['wide']}")
            results = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
            for v in results["violations"]:
                if v["impact"] in BLOCKING:
                    targets = [", ".join(n["target"]) for n in v["nodes"]][:4]
                    self.problems.append(f"{where}: axe {v['impact']} {v['id']} ({v['help']}) at {targets}")
            if size != "desktop":
                small = page.evaluate(SMALL_TARGETS_JS, TOUCH)
                if small:
                    self.problems.append(f"{where}: touch targets under {TOUCH} px: {small[:4]}")

    def visit(self, page: Any, url: str, name: str, status: int = 200) -> None:
        response = page.goto(url)
        assert response is not None and response.status == status, f"{name}: {url} answered " \
            f"{response.status if response else None}, not {status}"
        self.check(page, name)

    def assert_clean(self) -> None:
        assert not self.problems, f"{len(self.problems)} accessibility problems on {len(self.visited)} pages:\n" + \
            "\n".join(self.problems)


@pytest.fixture
def findings() -> Findings:
    return Findings()


@pytest.fixture
def as_user(journal_server, browser) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """``as_user(username)``: a page in a browser context of its own, logged in through the form."""
    contexts: list[Any] = []

    def make(username: str) -> Any:
        context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="sv-SE")
        contexts.append(context)
        page = context.new_page()
        page.goto(journal_server.base + "/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield make
    for context in contexts:
        context.close()


def _first_href(where: Any, selector: str) -> str:
    """The first link matching ``selector`` in a page or a locator."""
    link = where.locator(selector).first
    assert link.count() == 1, f"no link {selector}"
    href = link.get_attribute("href")
    assert href
    return href


def _patient_with(db_url: str, where: str) -> int:
    with psycopg.connect(db_url) as c:
        row = c.execute(f"SELECT a.patient_id FROM admission a WHERE a.discharged_at IS NULL AND {where} "
                        "ORDER BY a.patient_id LIMIT 1").fetchone()
    assert row, f"no admitted patient with {where}"
    return int(row[0])


def test_the_checks_catch_what_they_look_for(browser, findings) -> None:
    """A page with each fault the checks exist for is reported, fault by fault (so a clean journal
    page means clean, not "axe did not run")."""
    page = browser.new_page()
    page.set_content("""<!doctype html><html lang="sv"><head><title>Fel</title></head><body><main>
      <h1>Fel</h1><input name="orphan"><p style="color:#bbb;background:#fff">Blek text</p>
      <div style="width:900px">bred</div><button style="height:20px;min-height:0">x</button></main></body></html>""")
    findings.check(page, "faulty page")
    page.close()
    found = "\n".join(findings.problems)
    assert "fields without a label" in found and 'name="orphan"' in found
    assert "axe critical label" in found and "axe serious color-contrast" in found
    assert "scrolls sideways" in found and "[phone 375x812]" in found
    assert "touch targets under 44 px" in found
    assert "[desktop 1366x768]: scrolls" not in found  # 900 px fits a desktop


def test_login_and_error_pages(journal_server, browser, findings) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    findings.visit(page, journal_server.base + "/login", "login")
    page.fill("input[name=username]", "sjukskoterska")
    page.fill("input[name=password]", "fel-lösenord")
    page.click("button[type=submit]")
    page.wait_for_selector("p.error")
    findings.check(page, "login, wrong password")
    context.close()
    findings.assert_clean()


def test_every_page_a_nurse_reaches(journal_server, as_user, findings) -> None:
    base = journal_server.base
    page = as_user("sjukskoterska")
    unit = page.url.rstrip("/").rsplit("/", 1)[1]
    findings.check(page, "ward list")
    findings.visit(page, base + "/units", "units")
    page.goto(base + f"/ward/{unit}")
    patient = _first_href(page, "#ward-list tbody tr a")
    findings.visit(page, base + patient, "patient overview")
    medication = _first_href(page, "#medications a[href^='/medication/']")
    findings.visit(page, base + medication, "medication administration")
    findings.visit(page, base + patient + "/movements", "movements: transfer and discharge")
    findings.visit(page, base + f"/ward/{unit}/admit", "admission form")
    page.click("#admit-form button[type=submit]")  # nothing filled in: refused, nothing written
    page.wait_for_selector("#form-errors")
    findings.check(page, "admission form with its errors next to the fields")
    findings.visit(page, base + patient + "/note/new", "note form")
    page.select_option("select[name=kind]", "omvardnad")
    page.fill("textarea[name=body]", "Sover gott, inga smärtor. Mobiliserad till stol.")
    page.click("form.card button[type=submit]")
    page.wait_for_url(base + patient)
    own = page.locator("#notes article", has_text="Sover gott, inga smärtor.").first
    correct, history = _first_href(own, "a[href$='/correct']"), _first_href(own, "a[href^='/history/note/']")
    findings.visit(page, base + correct, "correction form")
    findings.visit(page, base + history, "history")
    # a note and a dose documented on the ward PC during an outage, waiting for review (the queue is
    # shared with other tests: the page is filtered to this patient)
    queued, order, _ = patient_with_order(journal_server.db_url, unit)
    entries = [note(queued, "Driftstopp: patienten sov hela natten."), administration(queued, order)]
    r = httpx.post(base + "/api/v1/postreg/batches", json=batch(unit, entries), timeout=10,
                   headers={"Authorization": f"Bearer {agent_token(journal_server.var_dir, unit)}"})
    assert r.status_code == 201, r.text
    findings.visit(page, base + f"/postreg/{unit}?patient={queued}", "post-registration review")
    outside = _patient_with(journal_server.db_url, "a.unit_id NOT IN (SELECT su.unit_id FROM staff_unit su "
                            "JOIN staff s ON s.id = su.staff_id WHERE s.username = 'sjukskoterska')")
    findings.visit(page, base + f"/patients/{outside}", "emergency-access prompt", status=403)
    page.click("text=English")
    findings.visit(page, base + "/patients/999999999", "error page (no such patient), in English", status=404)
    findings.assert_clean()


def test_every_page_a_physician_reaches(journal_server, as_user, findings) -> None:
    base = journal_server.base
    page = as_user("lakare")
    findings.check(page, "ward list (physician)")
    patient = _first_href(page, "#ward-list tbody tr a")
    findings.visit(page, base + patient, "patient overview (physician)")
    medication = _first_href(page, "#medications a[href^='/medication/']")
    with psycopg.connect(journal_server.db_url) as c:
        open_referral = c.execute("SELECT order_number FROM referral r WHERE NOT EXISTS (SELECT 1 FROM "
                                  "referral_result x WHERE x.order_number = r.order_number) LIMIT 1").fetchone()
    assert open_referral, "the seeded region has no referral awaiting its result"
    result = f"/referrals/{open_referral[0]}/result"
    findings.visit(page, base + patient + "/medication/new", "medication order form")
    for name, value in (("drug", "Furix"), ("substance", "furosemid"), ("strength", "40 mg"), ("dose", "40 mg"),
                        ("frequency", "x 3"), ("times", "08:00")):  # three a day at one time: refused, nothing written
        page.fill(f"#order-form [name={name}]", value)
    page.click("#order-form button[type=submit]")
    page.wait_for_selector("#order-form [aria-invalid=true]")
    findings.check(page, "medication order form with its errors next to the fields")
    findings.visit(page, base + patient + "/referral/new", "referral form")
    findings.visit(page, base + medication, "medication administration and stop (physician)")
    findings.visit(page, base + _first_href(page, "a[href^='/history/medication_order/']"), "history of an order")
    findings.visit(page, base + result, "result form")
    findings.assert_clean()


def test_every_page_an_admin_reaches(journal_server, as_user, findings) -> None:
    base = journal_server.base
    page = as_user("admin")
    findings.check(page, "admin: users")
    with psycopg.connect(journal_server.db_url) as c:
        number = c.execute("SELECT personal_number FROM patient ORDER BY id LIMIT 1").fetchone()[0]  # type: ignore[index]
    findings.visit(page, base + f"/admin/access-log?personal_number={number}", "admin: access log")
    findings.visit(page, base + "/admin/emergency-access", "admin: emergency accesses")
    findings.visit(page, base + "/admin/flags", "admin: feature flags")
    findings.assert_clean()


def test_pages_under_a_status_banner(journal_server, as_user, findings, tmp_path) -> None:
    """The status banner over the ward list and the patient, and the page that refuses a write under
    a reserve routine, as a nurse sees them while a status message is in force."""
    key = load_or_create_key(tmp_path / "signing_key.pem")
    trust(journal_server.var_dir, key)

    def push(mode: str, **fields: object) -> None:
        version = httpx.get(journal_server.base + "/api/v1/status", timeout=10).json()["document"]
        doc = make_doc(key, (version["version"] if version else 0) + 1, mode, **fields)
        r = httpx.post(journal_server.base + "/api/v1/status", json={"document": doc.as_dict()}, timeout=10)
        assert r.status_code == 202, r.text

    base = journal_server.base
    page = as_user("sjukskoterska")
    unit = page.url.rstrip("/").rsplit("/", 1)[1]
    try:
        push("storning", headline="Journalen svarar långsamt på Centralsjukhusets avdelningar",
             unit_modes={unit: "reservrutin"}, affected_systems=["Journal"], affected_units=[unit])
        page.reload()
        assert page.locator("#status-banner").is_visible()
        findings.check(page, "ward list under a status banner")
        patient = _first_href(page, "#ward-list tbody tr a")
        page.goto(base + patient + "/note/new")
        page.fill("textarea[name=body]", "Försök att skriva under reservrutin.")
        page.click("button[type=submit]")
        page.wait_for_selector("#write-blocked")
        findings.check(page, "write refused under a reserve routine")
    finally:
        push("normal")
    findings.assert_clean()


def test_read_copy_pages(region_url, browser, findings) -> None:
    """The read copy's ward list and patient page, with its banner saying how current the data is (a
    journal in read-copy mode on the test region's database: the pages, not the replication)."""
    var_dir = reachable_tempdir("obruten-rc-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="rc-test-secret-" + "z" * 40, read_copy=True)
    served = Served(create_app(cfg, app_url(region_url, var_dir / "app-password")), what="the read copy")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(served.base + "/login")
        page.fill("input[name=username]", "sjukskoterska")
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_url("**/ward/**")
        assert page.locator("#read-copy-banner").is_visible()
        findings.check(page, "read copy: ward list")
        findings.visit(page, served.base + _first_href(page, "#ward-list tbody tr a"), "read copy: patient overview")
    finally:
        context.close()
        served.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    findings.assert_clean()


def test_database_down_page(browser, findings) -> None:
    """The page a nurse gets when the journal's database does not answer (here: nothing listens on
    its port), naming the read copy and the ward kit."""
    var_dir = reachable_tempdir("obruten-down-web-")
    cfg = config_mod.load(environ={}, var_dir=var_dir, secret_key="down-test-secret-" + "w" * 40,
                          read_copy_web_url="http://läskopia.region.example:8001/")
    served = Served(create_app(cfg, f"postgresql://obruten_app@127.0.0.1:{free_port()}/obruten"),
                    what="a journal without its database")
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        page = context.new_page()
        page.goto(served.base + "/login")
        page.fill("input[name=username]", "sjukskoterska")
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_selector("text=läskopia.region.example")
        findings.check(page, "database down")
    finally:
        context.close()
        served.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
    findings.assert_clean()
