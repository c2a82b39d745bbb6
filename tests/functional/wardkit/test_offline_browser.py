"""The offline HTML kit in real headless Chromium, opened from disk with the browser offline:
everything shows, nothing is requested but the file itself, and it prints to PDF."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import CHROMIUM_ARGS

pytestmark = pytest.mark.browser

def test_offline_html_kit_opens_from_disk_without_network(kit_dir: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    copy = tmp_path / "usb" / "reservkit.html"     # as if copied to a USB stick
    copy.parent.mkdir()
    shutil.copy(kit_dir / "kit.html", copy)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium",
                                    args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_offline(True)
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(copy.as_uri())
        assert requested == [copy.as_uri()]
        assert "Uppgifter per 2026-11-20 10:00" in page.locator("header.kit h1").inner_text()
        warnings = page.locator("section.patient .warnings").first
        assert warnings.is_visible()
        assert page.locator("text=Anafylaxi mot testamin").first.is_visible()
        assert page.locator("button.print").is_visible()
        # the shift's facts head the patient; the status message is on top; nothing for IT is shown
        ours = page.locator("section.patient", has_text="19400101-0009")
        assert "Ansvarig läkare:" in ours.locator(".facts").inner_text()
        assert "Driftläge när kitet byggdes" in page.locator("header.kit").inner_text()
        assert "SHA-256" not in page.locator("body").inner_text()
        color = page.locator(".warnings h3").first.evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(187, 0, 0)"                           # CSS is inline, so it applied
        page.pdf(path=str(tmp_path / "printed.pdf"))               # what "Skriv ut" produces
        assert (tmp_path / "printed.pdf").stat().st_size > 1000
        browser.close()

