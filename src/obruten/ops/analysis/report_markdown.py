"""The report as Markdown (for the intranet, e-mail, or a document system)."""

from __future__ import annotations

from obruten.ops.analysis.report import Fields, Heading, Item, Note, Para, Report, Table


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render(report: Report) -> str:
    out: list[str] = []
    number = 0
    for block in report.blocks:
        if isinstance(block, Heading):
            out += ["", "#" * block.level + " " + block.text, ""]
            number = 0
        elif isinstance(block, Note):
            out += [f"> **{block.text}**", ""]
        elif isinstance(block, Fields):
            out += [f"- **{label}:** {_cell(value) or '–'}" for label, value in block.rows]
        elif isinstance(block, Para):
            out += [block.text.strip(), ""]
        elif isinstance(block, Item) and block.kind == "event":
            number += 1
            out.append(f"{number}. **{block.label}** {_cell(block.text)}")
        elif isinstance(block, Item):
            indent = "   " * block.depth + ("   " if number else "")
            label = f"**{block.label}** " if block.label else ""
            text = f"*{_cell(block.text)}*" if block.kind == "why" else _cell(block.text)
            out.append(f"{indent}- {label}{text}")
        elif isinstance(block, Table):
            out += ["| " + " | ".join(block.headers) + " |", "|" + "---|" * len(block.headers)]
            out += ["| " + " | ".join(_cell(c) or "–" for c in row) + " |" for row in block.rows]
            out.append("")
    out += ["", "---", f"*{report.footer}*", ""]
    text = "\n".join(line.rstrip() for line in out).strip("\n")
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text + "\n"
