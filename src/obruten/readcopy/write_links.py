"""No write control on a read-copy page: the journal's pages, served by the read copy, lose every
link to a write form, every form that would write and every link labelled with a write verb
("Administrera", "Rätta", "Skriv anteckning" …) before they leave the node.

One rule in one place, like ``RefuseWrites``: the journal's templates stay the journal's, and a write
link a template gains later is stripped here too, because it is recognised by the route it points to
(``web.refuses``) rather than by a list of templates.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from obruten.platform.i18n import translator

# the journal's write verbs (platform/locale/journal.*.json): a link labelled so leads to writing,
# even where its target is a page that also reads (the medication page's "Administrera")
WRITE_ACTIONS = ("action.write_note", "action.order_medication", "action.create_referral", "action.correct",
                 "action.administer", "action.enter_result", "action.stop_medication", "action.sign")


def write_labels() -> frozenset[str]:
    return frozenset(translator(lang)(key).strip().casefold() for lang in ("sv", "en") for key in WRITE_ACTIONS)


# A start tag's attributes (quoted values may hold ">"), then the element up to its own end tag:
# HTML allows neither a form inside a form nor a link inside a link, so the first end tag is its own.
_ATTRS = r"""(?:[^>"']|"[^"]*"|'[^']*')*"""
_FORM = re.compile(rf"<form\b({_ATTRS})>.*?</form\s*>", re.S | re.I)
_LINK = re.compile(rf"<a\b({_ATTRS})>(.*?)</a\s*>", re.S | re.I)
_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_TAG = re.compile(rf"<{_ATTRS}>")


def _attributes(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in _ATTR.findall(text):
        found.setdefault(name.lower(), html.unescape(value[1:-1] if value[:1] in "\"'" else value))
    return found


def strip_write_controls(page: str, writes: Callable[[str, str], bool],
                         labels: frozenset[str] | None = None) -> str:
    """``page`` without the forms and links for which ``writes(method, path)`` holds, nor the links
    labelled with a write verb; everything else exactly as written. Two regular-expression passes
    (forms, then links, also those inside a form that stays) instead of an HTML parser: an HTML
    parser in Python cost the read copy more CPU than rendering the page."""
    labels = labels if labels is not None else write_labels()

    def form(match: re.Match[str]) -> str:
        attrs = _attributes(match.group(1))
        return "" if writes(attrs.get("method", "get").upper(), urlsplit(attrs.get("action", "")).path) \
            else match.group(0)

    def link(match: re.Match[str]) -> str:
        attrs = _attributes(match.group(1))
        if "href" not in attrs:
            return match.group(0)
        if writes("GET", urlsplit(attrs["href"]).path):
            return ""
        text = " ".join(html.unescape(_TAG.sub("", match.group(2))).split()).casefold()
        return "" if text in labels else match.group(0)

    if "<form" not in page.lower() and "<a" not in page.lower():
        return page
    return _LINK.sub(link, _FORM.sub(form, page))
