"""The kit as a printable PDF (reportlab) a ward can run a shift from: a patient list, then one
section per patient, each starting on a new page so a nurse can hand out one patient's pages.

Every page carries who it is about and how old it is: on a patient's pages the name, personnummer
and the shift's facts (bed, age, sex, weight, responsible physician, code status) head every page,
also where the section runs over; every page says "Sida N av M", the unit, the data time and the
status message in force when the kit was built. Nothing for IT is printed: the kit's digest and
key live in the manifest and ``obruten wardkit verify``.

A patient's section: warnings and allergies in a red frame; diagnoses; the medication
administration record (one box per scheduled dose in the next 24 h with time, dose, signature and
not-given reason; as-needed orders with their maximum per 24 h and empty boxes); results of the
last 72 h; latest notes; open referrals.

Drawn straight on the reportlab canvas (no Platypus): a region of a thousand wards is rebuilt
every few minutes and the canvas is several times faster. "av M" needs the page count: the canvas
keeps each page's drawing until ``save`` and then stamps the numbers (reportlab's canvasmaker
pattern, one pass). Fonts: DejaVu Sans, embedded (``fonts``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from obruten.platform.i18n import translator
from obruten.wardkit import fonts, present

PAGE_W, PAGE_H = A4
MARGIN = 36
WIDTH = PAGE_W - 2 * MARGIN
TOP = PAGE_H - 66          # below the page header
BOTTOM = 46                # above the page footer
RED = Color(0.72, 0.05, 0.05)
PALE_RED = Color(1.0, 0.92, 0.92)
GREY = Color(0.45, 0.45, 0.45)
LIGHT = Color(0.92, 0.92, 0.92)
REGULAR, BOLD = fonts.REGULAR, fonts.BOLD
MAR_HOURS = 24
MAR_LABEL_W = 150          # the order's column of the administration record
BOX_W, BOX_H = 93, 46      # one dose: time, dose, signature, not-given reason
PRN_BOXES = 4


def _split(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of ``text`` that fit ``width`` (most texts fit on one line: measure once first)."""
    if stringWidth(text, font, size) <= width:
        return [text]
    return simpleSplit(text, font, size, width)


class _NumberedCanvas(Canvas):
    """Keeps every page's drawing until ``save``, then writes "Sida N av M" on each (one pass)."""

    def __init__(self, *args: Any, page_label: Callable[[int, int], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict] = []
        self._page_label = page_label

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()  # type: ignore[attr-defined]  # reportlab API without stubs

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, 1):
            self.__dict__.update(state)
            self.setFont(REGULAR, 9)
            self.setFillColor(black)
            self.drawRightString(PAGE_W - MARGIN, PAGE_H - 26, self._page_label(number, total))
            Canvas.showPage(self)
        Canvas.save(self)


class _Page:
    """A cursor over canvas pages that draws the header and footer on every page. ``patient``
    (set while a patient's section is drawn) puts that patient's identity on top of every page."""

    def __init__(self, canvas: Canvas, title: str, unit: str, footer: list[str], t: Callable[..., str]) -> None:
        self.c, self.title, self.unit, self.footer, self.t = canvas, title, unit, footer, t
        self.patient: tuple[str, str, str] | None = None   # (name + personnummer, facts line, red tag)
        self.started = False
        self.y = TOP

    def _start(self) -> None:
        c = self.c
        c.setFillColor(black)
        if self.patient:
            heading, facts, tag = self.patient
            c.setFont(BOLD, 12)
            c.drawString(MARGIN, PAGE_H - 27, heading)
            c.setFont(REGULAR, 8)
            c.drawString(MARGIN, PAGE_H - 39, facts)
            if tag:   # a do-not-resuscitate order is seen at a glance on every page
                c.setFont(BOLD, 10)
                c.setFillColor(RED)
                c.drawRightString(PAGE_W - MARGIN, PAGE_H - 40, tag)
                c.setFillColor(black)
        else:
            c.setFont(BOLD, 12)
            c.drawString(MARGIN, PAGE_H - 27, self.title)
        c.setFont(REGULAR, 8)
        c.setFillColor(GREY)
        c.drawString(MARGIN, PAGE_H - 51, self.unit)
        c.setStrokeColor(GREY)
        c.line(MARGIN, PAGE_H - 56, PAGE_W - MARGIN, PAGE_H - 56)
        c.line(MARGIN, 36, PAGE_W - MARGIN, 36)
        c.setFont(REGULAR, 7)
        for n, line in enumerate(self.footer):
            c.drawString(MARGIN, 26 - 9 * n, line)
        c.setFillColor(black)
        self.y = TOP
        self.started = True

    def new_page(self) -> None:
        if self.started:
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

    def heading(self, text: str, size: float = 10.5, room: float = 0) -> None:
        """A section heading, kept on the same page as ``room`` points of what follows it."""
        self.need(size * 1.6 + 12 + room)
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


def _order_lines(m: dict, t: Callable[..., str], prn: bool) -> list[tuple[str, str, float]]:
    """The order's column: (text, font, size) lines."""
    lines = [(present.drug_line(m), BOLD, 8.5), (f"{m['dose']} · {m['route']} · {present.frequency_line(m, t)}", REGULAR, 7.5)]
    if m.get("indication"):
        lines.append((m["indication"], REGULAR, 7))
    if prn:
        lines.append((present.prn_max(m, t), BOLD, 7.5))
    given = [g for g in present.given_lines(m, t) if g != "–"][:3]
    if given:
        lines.append((t("kit.given_recent") + ":", REGULAR, 6.5))
        lines += [(g, REGULAR, 6.5) for g in given]
    out = []
    for text, font, size in lines:
        out += [(part, font, size) for part in _split(text, font, size, MAR_LABEL_W - 6)]
    return out


def _box(c: Canvas, x: float, y: float, due: str | None, dose: str, t: Callable[..., str]) -> None:
    """One dose box with its top-left corner at (x, y)."""
    c.setStrokeColor(black)
    c.setLineWidth(0.6)
    c.rect(x, y - BOX_H, BOX_W - 3, BOX_H, stroke=1, fill=0)
    c.setFillColor(black)
    c.setFont(BOLD, 8)
    c.drawString(x + 3, y - 9, present.day_clock(due) if due else f"{t('kit.mar_time')}:")
    c.setFont(REGULAR, 6.5)
    c.drawString(x + 3, y - 19, f"{t('kit.mar_dose')}: {dose}")
    c.drawString(x + 3, y - 30, f"{t('kit.mar_sign')}:")
    c.drawString(x + 3, y - 41, f"{t('kit.mar_not_given')}:")
    c.setStrokeColor(LIGHT)
    c.line(x + 25, y - 31, x + BOX_W - 6, y - 31)


def _mar_row(page: _Page, m: dict, doses: list[str | None], t: Callable[..., str], prn: bool) -> None:
    per_line = int((WIDTH - MAR_LABEL_W) // BOX_W)
    label = _order_lines(m, t, prn)
    label_h = sum(size * 1.2 for _, _, size in label) + 4
    box_lines = [doses[i:i + per_line] for i in range(0, len(doses), per_line)] or [[]]
    height = max(label_h, len(box_lines) * (BOX_H + 3)) + 4
    if height > TOP - BOTTOM:   # more doses than a page holds: rows of boxes on following pages
        for i in range(0, len(box_lines), 10):
            _mar_row(page, m, [d for line in box_lines[i:i + 10] for d in line], t, prn)
        return
    page.need(height)
    c = page.c
    y = page.y - 3
    c.setFillColor(PALE_RED if prn else LIGHT)
    c.rect(MARGIN, page.y - height, MAR_LABEL_W - 4, height - 1, stroke=0, fill=1)
    for text, font, size in label:
        c.setFillColor(black)
        c.setFont(font, size)
        y -= size * 1.2
        c.drawString(MARGIN + 3, y + 2, text)
    for n, line in enumerate(box_lines):
        for k, due in enumerate(line):
            _box(c, MARGIN + MAR_LABEL_W + k * BOX_W, page.y - 3 - n * (BOX_H + 3), due, "" if prn else m["dose"], t)
    page.y -= height
    c.setStrokeColor(GREY)
    c.setLineWidth(0.4)
    c.line(MARGIN, page.y + 1, PAGE_W - MARGIN, page.y + 1)
    c.setLineWidth(1)


def _mar(page: _Page, p: dict, as_of: str, hours: float, t: Callable[..., str]) -> None:
    """The medication administration record: one box per scheduled dose, PRN rows with empty boxes."""
    page.heading(t("kit.mar", hours=f"{hours:g}"), room=BOX_H + 8)
    if not p["medications"]:
        page.text(t("kit.none"))
        return
    scheduled = [m for m in p["medications"] if not m["as_needed"]]
    prn = [m for m in p["medications"] if m["as_needed"]]
    if scheduled:
        page.text(t("kit.mar_scheduled"), 8.5, BOLD, color=GREY)
        for m in scheduled:
            doses: list[str | None] = list(present.doses_within(m, as_of, hours))
            if not doses:
                page.need(14)
                page.text(f"{present.drug_line(m)} {m['dose']}: {t('kit.mar_none', hours=f'{hours:g}')}", 8)
                continue
            _mar_row(page, m, doses, t, prn=False)
    if prn:
        page.gap(3)
        page.text(t("kit.mar_prn"), 8.5, BOLD, color=GREY)
        for m in prn:
            _mar_row(page, m, [None] * PRN_BOXES, t, prn=True)


# the medication table (flag kit_mar_grid off): (label key, width)
MED_COLUMNS = (("kit.drug", 112), ("kit.dose", 60), ("kit.route", 42), ("kit.frequency", 84),
               ("kit.next_24h", 95), ("kit.given_24h", WIDTH - 393))


def _medication_table(page: _Page, medications: list[dict], t: Callable[..., str]) -> None:
    """The release-before's medication list: one row per order, next doses and doses given (no boxes)."""
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


def _patient(page: _Page, p: dict, as_of: str, t: Callable[..., str], mar_hours: float,
             mar_grid: bool = True) -> None:
    tag = t("kit.code.ej_hlr") if present.fact(p, "code_status") == "ej_hlr" else ""
    page.patient = (present.patient_heading(p), present.facts_line(p, as_of, t), tag)
    page.new_page()
    page.text(f"{t('kit.admitted')} {present.when(p['admitted_at'])}", 8.5, color=GREY)
    page.gap(2)
    _warnings(page, p["warnings"], t)
    page.heading(t("kit.diagnoses"))
    page.text("; ".join(f"{d['code']} {d['text']}" for d in p["diagnoses"]) or t("kit.none"))
    if mar_grid:
        _mar(page, p, as_of, mar_hours, t)
    else:
        _medication_table(page, p["medications"], t)
    page.heading(t("kit.results", hours=72))
    for r in p.get("results", []):
        abnormal = r["abnormal"]
        line = present.result_line(r) + (f" ({t('kit.abnormal')})" if abnormal else "")
        page.text(line, 8.5, BOLD if abnormal else REGULAR, color=RED if abnormal else black)
    if not p.get("results"):
        page.text(t("kit.none"))
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


def _patient_list(page: _Page, patients: list[dict], as_of: str, t: Callable[..., str]) -> None:
    page.patient = None
    page.new_page()
    page.text(t("kit.patients"), 13, BOLD)
    page.text(t("kit.patient_count", n=len(patients)), 9, color=GREY)
    page.gap(4)
    if not patients:
        page.text(t("kit.no_patients"))
    for p in patients:
        flag = "; ".join(w["text"] for w in p["warnings"])
        page.text(present.patient_heading(p), 9.5, BOLD)
        page.text(present.facts_line(p, as_of, t), 7.5, indent=12)
        if flag:
            page.text(flag, 8.5, BOLD, indent=12, color=RED)
    page.gap(8)
    page.text(t("kit.printed_note"), 8, color=GREY)


def render(data: dict, digest: str, key_id: str, target: Path, lang: str = "sv",
           mar_hours: float = MAR_HOURS, mar_grid: bool = True) -> None:
    """Write the kit PDF for ``data`` to ``target``. ``digest`` and ``key_id`` are not printed: the
    signed manifest carries them (``obruten wardkit verify``), the nurse's pages do not."""
    fonts.register()
    t = translator(lang)
    unit = data["unit"]
    as_of = data["as_of"]
    title = f"{t('kit.title')} · {unit['name']}"
    unit_line = f"{t('kit.unit')}: {unit['name']} ({unit['id']}), {unit['hospital']} · {t('kit.as_of', time=present.when(as_of))}"
    footer = _split(f"{t('kit.as_of', time=present.when(as_of))} · {present.status_line(data.get('status'), t)}",
                    REGULAR, 7, WIDTH)[:2]
    canvas = _NumberedCanvas(str(target), pagesize=A4, pageCompression=0, invariant=1,
                             page_label=lambda n, total: t("kit.page", n=n, total=total))
    canvas.setTitle(f"{t('kit.title')} {unit['id']} {present.when(as_of)}")
    canvas.setAuthor("Obruten")
    page = _Page(canvas, title, unit_line, footer, t)
    _patient_list(page, data["patients"], as_of, t)
    for p in data["patients"]:
        _patient(page, p, as_of, t, mar_hours, mar_grid)
    canvas.showPage()
    canvas.save()
