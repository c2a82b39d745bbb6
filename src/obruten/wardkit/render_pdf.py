"""The kit as a printable PDF (reportlab): a patient list, then one section per patient, each
starting on a new page so a nurse can hand out one patient's pages.

Drawn straight on the reportlab canvas (no Platypus): a region of a few hundred wards is rebuilt
every five minutes, and the canvas is several times faster. Every page carries the data time
("Uppgifter per …"), the unit, and the kit data's SHA-256 with the signing key id. Warnings and
allergies come first in each patient's section, in a red frame.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from obruten.platform.i18n import translator
from obruten.wardkit import present

PAGE_W, PAGE_H = A4
MARGIN = 36
WIDTH = PAGE_W - 2 * MARGIN
TOP = PAGE_H - 58          # below the page header
BOTTOM = 40                # above the page footer
RED = Color(0.72, 0.05, 0.05)
PALE_RED = Color(1.0, 0.92, 0.92)
GREY = Color(0.45, 0.45, 0.45)
LIGHT = Color(0.92, 0.92, 0.92)
REGULAR, BOLD = "Helvetica", "Helvetica-Bold"
# medication table: (label key, width)
MED_COLUMNS = (("kit.drug", 112), ("kit.dose", 60), ("kit.route", 42), ("kit.frequency", 84),
               ("kit.next_24h", 95), ("kit.given_24h", WIDTH - 393))


def _split(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` that fit ``width`` (most texts fit on one line: measure once first)."""
    if stringWidth(text, font, size) <= width:
        return [text]
    return simpleSplit(text, font, size, width)


class _Page:
    """A cursor over canvas pages that draws the header and footer on every page."""

    def __init__(self, canvas: Canvas, header: str, unit: str, footer: str, t: Callable[..., str]) -> None:
        self.c, self.header, self.unit, self.footer, self.t = canvas, header, unit, footer, t
        self.number = 0
        self.y = TOP
        self._start()

    def _start(self) -> None:
        self.number += 1
        c = self.c
        c.setFillColor(black)
        c.setFont(BOLD, 11)
        c.drawString(MARGIN, PAGE_H - 30, self.header)
        c.setFont(REGULAR, 9)
        c.drawRightString(PAGE_W - MARGIN, PAGE_H - 30, self.t("kit.page", n=self.number))
        c.drawString(MARGIN, PAGE_H - 43, self.unit)
        c.setStrokeColor(GREY)
        c.line(MARGIN, PAGE_H - 49, PAGE_W - MARGIN, PAGE_H - 49)
        c.line(MARGIN, 30, PAGE_W - MARGIN, 30)
        c.setFont(REGULAR, 7)
        c.setFillColor(GREY)
        c.drawString(MARGIN, 20, self.footer)
        c.setFillColor(black)
        self.y = TOP

    def new_page(self) -> None:
        self.c.showPage()
        self._start()

    def need(self, height: float) -> bool:
        """Start a new page unless ``height`` fits; True when it did."""
        if self.y - height < BOTTOM:
            self.new_page()
            return True
        return False

    def text(self, text: str, size: float = 9, font: str = REGULAR, indent: float = 0,
             color: Color = black, width: float | None = None) -> None:
        lines = _split(text, font, size, (width or WIDTH) - indent) or [""]
        lead = size * 1.25
        while lines:
            self.need(lead)
            fit = max(1, min(len(lines), int((self.y - BOTTOM) // lead)))
            tx = self.c.beginText(MARGIN + indent, self.y - size)
            tx.setFont(font, size, lead)
            tx.setFillColor(color)     # always: a text object's colour outlives it in the page's state
            for line in lines[:fit]:
                tx.textLine(line)
            self.c.drawText(tx)
            self.y -= lead * fit
            lines = lines[fit:]

    def heading(self, text: str, size: float = 10.5) -> None:
        self.need(size * 1.6 + 12)
        self.y -= 4
        self.text(text, size, BOLD)
        self.y -= 1

    def gap(self, height: float = 6) -> None:
        self.y -= height


def _warnings(page: _Page, warnings: list[dict], t: Callable[..., str]) -> None:
    size, lead = 10, 13
    lines = [(present.warning_line(w, t), w["severity"]) for w in warnings]
    wrapped = [(part, sev) for text, sev in lines for part in _split(text, BOLD, size, WIDTH - 16)]
    title = t("kit.warnings")
    height = lead * (len(wrapped) or 1) + 24
    page.need(height)
    c = page.c
    c.setFillColor(PALE_RED if warnings else LIGHT)
    c.setStrokeColor(RED if warnings else GREY)
    c.setLineWidth(2 if warnings else 0.5)
    c.rect(MARGIN, page.y - height, WIDTH, height, stroke=1, fill=1)
    c.setLineWidth(1)
    c.setFillColor(RED if warnings else black)
    c.setFont(BOLD, 10)
    c.drawString(MARGIN + 8, page.y - 14, title.upper() if warnings else title)
    y = page.y - 14 - lead
    if not wrapped:
        c.setFillColor(black)
        c.setFont(REGULAR, size)
        c.drawString(MARGIN + 8, y, t("kit.no_warnings"))
    for text, severity in wrapped:
        c.setFillColor(RED if severity != "low" else black)
        c.setFont(BOLD if severity != "low" else REGULAR, size)
        c.drawString(MARGIN + 8, y, text)
        y -= lead
    c.setFillColor(black)
    page.y -= height + 6


def _medications(page: _Page, medications: list[dict], t: Callable[..., str]) -> None:
    page.heading(t("kit.medications"))
    if not medications:
        page.text(t("kit.none"))
        return
    size, lead = 7.5, 9.2

    def header() -> None:
        page.need(lead + 4)
        page.c.setFillColor(LIGHT)
        page.c.rect(MARGIN, page.y - lead - 2, WIDTH, lead + 2, stroke=0, fill=1)
        page.c.setFillColor(black)
        page.c.setFont(BOLD, size)
        x: float = MARGIN
        for key, width in MED_COLUMNS:
            page.c.drawString(x + 2, page.y - size - 1, t(key))
            x += width
        page.y -= lead + 3

    header()
    for m in medications:
        cells = [[present.drug_line(m)], [m["dose"]], [m["route"]], [present.frequency_line(m, t)],
                 [present.schedule_line(m, t)], present.given_lines(m, t)]
        columns = []
        for (_, width), texts in zip(MED_COLUMNS, cells, strict=True):
            font = BOLD if width == MED_COLUMNS[0][1] else REGULAR
            columns.append([line for text in texts for line in _split(text, font, size, width - 4)] or [""])
        height = max(len(col) for col in columns) * lead + 3
        if page.y - height < BOTTOM:
            page.new_page()
            header()
        tx = page.c.beginText()
        tx.setFillColor(black)
        x: float = MARGIN
        for index, ((_, width), lines) in enumerate(zip(MED_COLUMNS, columns, strict=True)):
            tx.setTextOrigin(x + 2, page.y - size)
            tx.setFont(BOLD if index == 0 else REGULAR, size, lead)
            for line in lines:
                tx.textLine(line)
            x += width
        page.c.drawText(tx)
        page.y -= height
        page.c.setStrokeColor(LIGHT)
        page.c.line(MARGIN, page.y + 1, PAGE_W - MARGIN, page.y + 1)


def _patient(page: _Page, p: dict, t: Callable[..., str]) -> None:
    page.c.setFillColor(black)
    page.text(present.patient_heading(p), 13, BOLD)
    page.text(f"{t('kit.admitted')} {present.when(p['admitted_at'])}", 8.5, color=GREY)
    page.gap(4)
    _warnings(page, p["warnings"], t)
    page.heading(t("kit.diagnoses"))
    page.text("; ".join(f"{d['code']} {d['text']}" for d in p["diagnoses"]) or t("kit.none"))
    _medications(page, p["medications"], t)
    page.heading(t("kit.notes"))
    if not p["notes"]:
        page.text(t("kit.none"))
    for n in p["notes"]:
        page.text(f"{present.when(n['clinical_at'])} · {n['title'] or n['kind']} · {n['author']}", 8, BOLD)
        page.text(n["body"], 8.5, indent=8)
    page.heading(t("kit.referrals"))
    for r in p["open_referrals"]:
        page.text(present.referral_line(r, t), 8.5)
    if not p["open_referrals"]:
        page.text(t("kit.none"))


def _patient_list(page: _Page, patients: list[dict], t: Callable[..., str]) -> None:
    page.text(t("kit.patients"), 13, BOLD)
    page.text(t("kit.patient_count", n=len(patients)), 9, color=GREY)
    page.gap(4)
    if not patients:
        page.text(t("kit.no_patients"))
    for p in patients:
        flag = "; ".join(w["text"] for w in p["warnings"])
        page.text(f"{present.patient_heading(p)}   {t('kit.admitted')} {present.when(p['admitted_at'], '%d/%m')}",
                  9.5, BOLD)
        if flag:
            page.text(flag, 8.5, BOLD, indent=12, color=RED)
    page.gap(8)
    page.text(t("kit.offline_note"), 8, color=GREY)
    page.text(t("kit.verify_hint"), 8, color=GREY)


def render(data: dict, digest: str, key_id: str, target: Path, lang: str = "sv") -> None:
    """Write the kit PDF for ``data`` (signed over ``digest`` by key ``key_id``) to ``target``."""
    t = translator(lang)
    unit = data["unit"]
    header = f"{t('kit.title')} · {t('kit.as_of', time=present.when(data['as_of']))}"
    unit_line = f"{t('kit.unit')}: {unit['name']} ({unit['id']}), {unit['hospital']}"
    footer = t("kit.digest", digest=digest, key_id=key_id)
    canvas = Canvas(str(target), pagesize=A4, pageCompression=0, invariant=1)
    canvas.setTitle(f"{t('kit.title')} {unit['id']} {present.when(data['as_of'])}")
    canvas.setAuthor("Obruten")
    page = _Page(canvas, header, unit_line, footer, t)
    _patient_list(page, data["patients"], t)
    for p in data["patients"]:
        page.new_page()
        _patient(page, p, t)
    canvas.save()
