"""15.6: an outage ends in one action. "Återgå till normal drift" clears every unit's mode, the
routine and the text in one signed version; the banner then says "Normal drift sedan HH:MM" for the
configured time and goes, never overdue. The editor starts empty and previews the banner."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from obruten.ops.service import OpsService
from obruten.ops.status_service import StatusIssuer, StatusSettings, current
from obruten.status.banner import banner_view, render_banner

from .test_status_service import make_issuer, who


def _outage(issuer: StatusIssuer, service: OpsService) -> None:
    issuer.issue(who(service, "tib"), mode="storning", headline="Journalen nere på AVD1",
                 routine="Pappersjournal RR-1", details="Databasen svarar inte", unit_modes={"AVD1": "reservrutin"},
                 systems=["journal"], units=["AVD1"], reason="Larm journal-write",
                 next_update_in=timedelta(minutes=30), now=service.clock.now())


def test_return_to_normal_clears_modes_routine_and_text_in_one_version(service: OpsService, tmp_path: Path) -> None:
    issuer = make_issuer(service, tmp_path)
    _outage(issuer, service)
    outage = current(service.store)
    assert outage is not None and outage.mode_for("AVD1") == "reservrutin"

    service.clock.advance(minutes=40)  # type: ignore[attr-defined]
    doc, said = issuer.return_to_normal(who(service, "tib"), reason="Journalen uppe", now=service.clock.now())
    assert current(service.store) == doc and doc.version > outage.version
    assert (doc.mode, doc.unit_modes, doc.routine, doc.headline, doc.details) == ("normal", {}, "", "", "")
    assert doc.mode_for("AVD1") == "normal" and doc.next_update_due is None
    assert doc.affected_systems == () and doc.affected_units == ()
    assert "regionen storning → normal" in said[1] and "AVD1 reservrutin → normal" in said[1]

    # the banner: "Normal drift sedan HH:MM" for 15 minutes, never overdue, then gone
    now = service.clock.now()
    view = banner_view(doc, ["AVD1"], now=now + timedelta(minutes=14))
    assert view is not None and view.mode == "normal" and not view.overdue and not view.writes_blocked
    html = render_banner(doc, "sv", ["AVD1"], now=now + timedelta(minutes=14))
    assert "Normal drift sedan" in html and "Dokumentera INTE" not in html and "Reservrutin" not in html
    assert "nästa uppdatering" not in html and "inaktuellt" not in html
    assert banner_view(doc, ["AVD1"], now=now + timedelta(minutes=15, seconds=1)) is None
    assert banner_view(doc, ["AVD1"], now=now + timedelta(days=3)) is None


def test_the_notice_time_is_configured(service: OpsService, tmp_path: Path) -> None:
    issuer = StatusIssuer(service.store, service.var_dir,
                          StatusSettings(key_file=tmp_path / "k.pem", normal_banner_minutes=0))
    _outage(issuer, service)
    doc, _ = issuer.return_to_normal(who(service, "tib"), reason="Slut", now=service.clock.now())
    assert banner_view(doc, ["AVD1"], now=service.clock.now()) is None  # 0: gone at once


def test_only_the_officer_on_duty_may_end_an_outage_over_the_api(service: OpsService, live, tmp_path: Path) -> None:
    import httpx

    issuer = make_issuer(service, tmp_path)
    _outage(issuer, service)
    with httpx.Client(base_url=live.base, timeout=10) as client:
        def token(user: str) -> str:
            return client.post("/api/v1/session", json={"username": user, "password": "demo"}).json()["token"]

        refused = client.post("/api/v1/status/normal", json={"reason": "klart"},
                              headers={"Authorization": f"Bearer {token('it')}"})
        assert refused.status_code == 403
        done = client.post("/api/v1/status/normal", json={"reason": "Journalen uppe igen"},
                           headers={"Authorization": f"Bearer {token('tib')}"})
        assert done.status_code == 201, done.text
    doc = current(service.store)
    assert doc is not None and doc.mode == "normal" and doc.unit_modes == {} and doc.routine == ""


@pytest.mark.browser
def test_tib_ends_the_outage_with_one_click_and_the_banner_goes(service: OpsService, live, browser,
                                                                tmp_path: Path) -> None:
    issuer = make_issuer(service, tmp_path)
    _outage(issuer, service)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(live.base + "/console")
    page.fill("#username", "tib")
    page.fill("#password", "demo")
    page.click("#login")
    page.goto(live.base + "/console/status")
    assert "Reservrutin gäller" in page.inner_text("#status-banner") or \
        "Driftstörning" in page.inner_text("#status-banner")

    # the editor starts empty: nothing of the outage's message is carried into a new one
    editor = page.locator("#status-editor")
    assert editor.locator("select[name=mode]").input_value() == ""
    for name in ("headline", "routine", "units", "systems"):
        assert editor.locator(f"input[name={name}]").input_value() == "", name
    assert editor.locator("textarea[name=unit_modes]").input_value() == ""
    # … and previews the banner as staff will see it, with the same template
    editor.locator("select[name=mode]").select_option("storning")
    editor.locator("input[name=headline]").fill("Långsam journal")
    page.click("#preview-banner")
    page.wait_for_selector("#status-preview #status-banner:has-text('Långsam journal')")
    assert "Driftstörning" in page.inner_text("#status-preview")
    assert page.locator("#status-editor input[name=headline]").input_value() == "Långsam journal"  # kept
    assert current(service.store).headline == "Journalen nere på AVD1"  # type: ignore[union-attr]  # nothing sent

    page.click("#return-to-normal")
    page.wait_for_selector("#status-banner:has-text('Normal drift sedan')")
    banner = page.inner_text("#status-banner")
    assert "Dokumentera INTE" not in banner and "Pappersjournal" not in banner and "inaktuellt" not in banner
    doc = current(service.store)
    assert doc is not None and (doc.mode, doc.unit_modes, doc.routine) == ("normal", {}, "")

    service.clock.advance(minutes=16)  # type: ignore[attr-defined]
    page.reload()
    assert page.locator("#status-banner").count() == 0
    page.close()
