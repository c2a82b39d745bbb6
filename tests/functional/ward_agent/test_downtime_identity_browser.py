"""In headless Chromium, what a nurse notices of issue 15 on the ward PC: she signs each entry with
her own password (a wrong one saves nothing, and the PC forgets her afterwards); a patient who
arrives during downtime gets a reservnummer and is documented on, then linked to the real
identity in post-registration; the page says whether the journal is up, both ways, and sends
staff back to the journal when it returns while still saving what was written."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import psycopg
import pytest

from agent_app import Served, ward_pc
from journal_process import JournalProcess
from obruten.platform.i18n import STOCKHOLM
from pgtools import free_port, reachable_tempdir
from postreg_helpers import agent_token, kit_data, nurse_unit

pytestmark = pytest.mark.browser


def _note(page, body: str, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    form = page.locator("#note-form")
    form.locator("textarea[name=body]").fill(body)
    form.locator("input[name=clinical_at]").fill(
        (datetime.now(STOCKHOLM) - timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M"))
    form.locator("input[name=author]").fill(username)
    form.locator("input[name=password]").fill(password)
    form.locator("button[type=submit]").click()


def test_each_entry_is_signed_with_the_nurses_own_password_and_then_forgotten(tmp_path, region_url, browser) -> None:
    unit = nurse_unit(region_url)
    patient = kit_data(region_url, unit)["patients"][1]
    with psycopg.connect(region_url) as c:
        name = c.execute("SELECT full_name FROM staff WHERE username = 'sjukskoterska'").fetchone()[0]
    page = browser.new_page()
    served = Served(ward_pc(tmp_path, region_url, unit, f"http://127.0.0.1:{free_port()}"))
    try:
        with served:
            page.goto(f"{served.base}/downtime/patients/{patient['id']}")
            assert page.locator("#journal-state").get_attribute("data-state") in ("unknown", "down")
            _note(page, "Vaken 02, fick saft.", "sjukskoterska", "fel-lösenord")
            assert "fel användarnamn eller lösenord; inget sparades" in page.locator("#form-error").inner_text()
            assert page.locator("#note-form textarea[name=body]").input_value() == "Vaken 02, fick saft."  # kept
            _note(page, "Vaken 02, fick saft.", "sjukskoterska", "demo")
            page.wait_for_url("**saved=**")
            assert f"Signerad av {name}" in page.locator("#saved").inner_text()
            # the next person at the PC finds no name and no password filled in anywhere
            for form in ("#note-form", "#administration-form"):
                assert page.locator(f"{form} input[name=author]").input_value() == ""
                assert page.locator(f"{form} input[name=password]").input_value() == ""
            assert not [c for c in page.context.cookies() if "author" in c["name"]]
    finally:
        page.close()


def test_reservnummer_patient_and_the_journal_coming_back(tmp_path, region_url, browser) -> None:
    unit = nurse_unit(region_url)
    journal = JournalProcess(region_url, reachable_tempdir("obruten-e2e-reserve-"))  # not started: downtime
    app = ward_pc(tmp_path, region_url, unit, journal.base, agent_token(journal.var_dir, unit))
    with psycopg.connect(region_url) as c:
        # the block the journal handed this PC before the outage (``sync`` fetches it; see test_downtime_identity)
        first, size = c.execute(
            "INSERT INTO reserve_number_block (unit_id, device_id, first_serial, size) SELECT %s, 'avd-pc-1',"
            " COALESCE(max(first_serial + size), 500000000), 5 FROM reserve_number_block RETURNING first_serial, size",
            (unit,)).fetchone()
        real_id, real_number = c.execute("SELECT id, personal_number FROM patient WHERE personal_number NOT LIKE '99%'"
                                         " ORDER BY id DESC LIMIT 1").fetchone()  # the real identity
    page = browser.new_page()
    served = Served(app)
    try:
        with served:
            agent = served.base
            app.state.downtime.store.add_block(first, size)
            page.goto(agent + "/downtime/queue")
            page.click("#submit-now")
            page.wait_for_url("**/downtime/queue")
            assert page.locator("#journal-state").get_attribute("data-state") == "down"
            assert "Journalen går inte att nå" in page.locator("#journal-state").inner_text()

            # ---- a patient arrives: reservnummer, then a note on them ------------------------------------
            page.goto(agent + "/downtime")
            page.click("#reserve-new")
            form = page.locator("#reserve-form")
            form.locator("input[name=family_name]").fill("Okänd")
            form.locator("input[name=given_name]").fill("Man ca 60 år")
            form.locator("select[name=sex]").select_option("M")
            form.locator("input[name=author]").fill("sjukskoterska")
            form.locator("input[name=password]").fill("demo")
            form.locator("button[type=submit]").click()
            page.wait_for_url("**/downtime/reserve/**saved=**")
            number = page.locator("#reserve-number").inner_text().split()[1]
            assert number.startswith("99") and len(number) == 13
            _note(page, "Inkommen medvetslös, ingen legitimation.", "sjukskoterska", "demo")
            page.wait_for_url("**saved=**")
            page.goto(agent + "/downtime")
            assert number in page.locator("#reserve-patients").inner_text()

            # ---- the journal is back: the PC sends staff there, and still saves what was written ---------
            journal.start()
            page.goto(agent + "/downtime/queue")
            page.click("#submit-now")
            page.wait_for_url("**/downtime/queue")
            assert page.locator("#journal-state").get_attribute("data-state") == "up"
            assert "mottagen, väntar på granskning" in page.locator("#downtime-queue").inner_text()
            page.goto(agent + "/downtime/reserve/1")
            assert "dokumentera i journalen" in page.locator("#journal-state").inner_text()
            _note(page, "Anhörig på väg.", "sjukskoterska", "demo")  # finishing what was begun
            page.wait_for_url("**saved=**")

            # ---- post-registration: link the reservnummer to the real person, confirm the note -----------
            page.goto(journal.base + "/login")
            page.fill("input[name=username]", "sjukskoterska")
            page.fill("input[name=password]", "demo")
            page.click("button[type=submit]")
            page.wait_for_url("**/ward/**")
            page.goto(journal.base + f"/postreg/{unit}")
            row = page.locator("#postreg-reserve tr", has_text=number)
            row.locator("input[name=personal_number]").fill(real_number)
            row.locator("button[type=submit]").click()
            page.wait_for_url("**done=linked**")
            assert real_number in page.locator("#postreg-reserve tr", has_text=number).inner_text()
            # the link is the journal's merge: the pending downtime entries moved to the real patient
            page.goto(journal.base + f"/postreg/{unit}?patient={real_id}")  # other tests fill the queue
            pending = page.locator("#postreg-pending tr", has_text="Inkommen medvetslös")
            if pending.locator("input[name=duplicates_checked]").count():
                pending.locator("input[name=duplicates_checked]").check()
            pending.locator("form.confirm button").click()
            page.wait_for_url("**done=confirmed**")
            page.goto(journal.base + f"/patients/{real_id}")
            assert "Inkommen medvetslös, ingen legitimation." in page.locator("main").inner_text()

            # ---- and when the journal goes again, the ward PC says so -----------------------------------
            journal.stop()
            page.goto(agent + "/downtime/queue")
            page.click("#submit-now")
            page.wait_for_url("**/downtime/queue")
            assert page.locator("#journal-state").get_attribute("data-state") == "down"
    finally:
        page.close()
        journal.stop()
        shutil.rmtree(journal.var_dir, ignore_errors=True)
