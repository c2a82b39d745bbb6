"""No write control on a read-copy page: the journal's pages, served by the read copy, lose every
link to a write form, every form that would write and every link labelled with a write verb
("Administrera", "Rätta", "Skriv anteckning" …) before they leave the node.

One rule in one place, like ``RefuseWrites``: the journal's templates stay the journal's, and a write
link a template gains later is stripped here too, because it is recognised by the route it points to
(``web.refuses``) rather than by a list of templates.
"""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit

from obruten.platform.i18n import translator

# the journal's write verbs (platform/locale/journal.*.json): a link labelled so leads to writing,
# even where its target is a page that also reads (the medication page's "Administrera")
WRITE_ACTIONS = ("action.write_note", "action.order_medication", "action.create_referral", "action.correct",
                 "action.administer", "action.enter_result", "action.stop_medication", "action.sign")
_VOID = frozenset(("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr"))


def write_labels() -> frozenset[str]:
    return frozenset(translator(lang)(key).strip().casefold() for lang in ("sv", "en") for key in WRITE_ACTIONS)


class _Stripper(HTMLParser):
    """Re-emits the page as written, leaving out the write controls (``<a>`` and ``<form>``
    elements, with everything inside them)."""

    def __init__(self, writes: Callable[[str, str], bool], labels: frozenset[str]) -> None:
        super().__init__(convert_charrefs=False)
        self.writes, self.labels = writes, labels
        self.out: list[str] = []
        self._held: list[str] | None = None  # an <a> being read: kept or dropped at its end
        self._held_text: list[str] = []
        self._skip: tuple[str, int] | None = None  # (tag, depth) of an element being left out

    # ---- where output goes -------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        if self._skip is not None:
            return
        (self._held if self._held is not None else self.out).append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            method = values.get("method", "get").upper()
            if self.writes(method, urlsplit(values.get("action", "")).path):
                self._skip = ("form", 1)
                return
        if tag == "a" and "href" in values and self._held is None:
            if self.writes("GET", urlsplit(values["href"]).path):
                self._skip = ("a", 1)
                return
            self._held, self._held_text = [raw], []
            return
        self._emit(raw)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._emit(self.get_starttag_text() or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            name, depth = self._skip
            if tag == name:
                self._skip = None if depth == 1 else (name, depth - 1)
            return
        if tag == "a" and self._held is not None:
            held, self._held = self._held, None
            if " ".join("".join(self._held_text).split()).casefold() not in self.labels:
                self.out.extend(held)
                self.out.append(f"</{tag}>")
            return
        self._emit(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._held is not None and self._skip is None:
            self._held_text.append(data)
        self._emit(data)

    def handle_entityref(self, name: str) -> None:
        self._emit(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._emit(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._emit(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._emit(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self._emit(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self._emit(f"<![{data}]>")


def strip_write_controls(html: str, writes: Callable[[str, str], bool],
                         labels: frozenset[str] | None = None) -> str:
    """``html`` without the links and forms for which ``writes(method, path)`` holds, nor the links
    labelled with a write verb."""
    parser = _Stripper(writes, labels if labels is not None else write_labels())
    parser.feed(html)
    parser.close()
    if parser._held is not None:  # an <a> never closed: keep what was read
        parser.out.extend(parser._held)
    return "".join(parser.out)
