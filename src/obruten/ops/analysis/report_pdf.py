"""The report as PDF (reportlab): A4, the same blocks as the Markdown, page numbers in the footer."""

from __future__ import annotations

import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer
from reportlab.platypus import Table as PdfTable
from reportlab.platypus.doctemplate import BaseDocTemplate
from reportlab.platypus.flowables import Flowable

from obruten.ops.analysis.report import Fields, Heading, Item, Note, Para, Report, Table
from obruten.platform.i18n import translator

_STYLES = getSampleStyleSheet()
_BODY = ParagraphStyle("body", parent=_STYLES["BodyText"], fontName="Helvetica", fontSize=9.5, leading=12)
_SMALL = ParagraphStyle("small", parent=_BODY, fontSize=8, leading=10)
_NOTE = ParagraphStyle("note", parent=_BODY, textColor=colors.HexColor("#8a0000"), fontName="Helvetica-Bold")
_HEAD = {1: ParagraphStyle("h1", parent=_STYLES["Heading1"], fontSize=16, leading=20),
         2: ParagraphStyle("h2", parent=_STYLES["Heading2"], fontSize=13, leading=16, spaceBefore=8),
         3: ParagraphStyle("h3", parent=_STYLES["Heading3"], fontSize=11, leading=14)}


_SPELLED = {"→": "->", "←": "<-", "≤": "<=", "≥": ">=", "≈": "~", "−": "-", "✓": "OK"}


def _latin(text: str) -> str:
    """The standard PDF fonts cover WinAnsi (Latin-1 and a few more): other characters are spelled
    out or shown as '?', never as an empty box."""
    out = []
    for ch in text:
        ch = _SPELLED.get(ch, ch)
        try:
            ch.encode("cp1252")
        except UnicodeEncodeError:
            ch = "?"
        out.append(ch)
    return "".join(out)


def _p(text: str, style: ParagraphStyle = _BODY) -> Paragraph:
    return Paragraph(escape(_latin(text)).replace("\n", "<br/>"), style)


def render(report: Report, lang: str = "sv") -> bytes:
    t = translator(lang)
    story: list[Flowable] = []
    for block in report.blocks:
        if isinstance(block, Heading):
            story.append(_p(block.text, _HEAD[block.level]))
        elif isinstance(block, Note):
            story.append(_p(block.text, _NOTE))
        elif isinstance(block, Fields):
            table = PdfTable([[_p(k + ":", _SMALL), _p(v or "–")] for k, v in block.rows], colWidths=[35 * mm, 135 * mm])
            table.setStyle([("VALIGN", (0, 0), (-1, -1), "TOP")])
            story += [table, Spacer(1, 3 * mm)]
        elif isinstance(block, Para):
            story.append(_p(block.text))
        elif isinstance(block, Item):
            style = ParagraphStyle(f"item{block.depth}{block.kind}", parent=_BODY, leftIndent=6 * mm * block.depth,
                                   spaceBefore=4 if block.kind == "event" else 0,
                                   fontName="Helvetica-Oblique" if block.kind == "why" else "Helvetica")
            label = f"<b>{escape(_latin(block.label))}</b> " if block.label else ""
            story.append(Paragraph(label + escape(_latin(block.text)), style))
        elif isinstance(block, Table):
            widths = [10, 45, 12, 22, 19, 17, 28, 17]
            rows = [[_p(h, _SMALL) for h in block.headers]] + [[_p(c or "–", _SMALL) for c in row] for row in block.rows]
            table = PdfTable(rows, colWidths=[w * mm for w in widths[: len(block.headers)]], repeatRows=1)
            table.setStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8"))])
            story.append(table)

    def footer(canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(15 * mm, 10 * mm, _latin(report.footer))
        canvas.drawRightString(195 * mm, 10 * mm, t("analysis.report.page", n=doc.page))
        canvas.restoreState()

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm, topMargin=15 * mm,
                            bottomMargin=18 * mm, title=_latin(report.title), author="Obruten", subject=report.footer)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
