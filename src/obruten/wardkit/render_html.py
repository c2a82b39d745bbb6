"""The kit as one self-contained HTML file: CSS inline, no scripts but the print button, no links
out, so it opens from a USB stick or the local disk with the network unplugged.

It carries the same data time, unit and status message as the PDF (sticky on screen, repeated with
the patient's name and personnummer at the top of every patient's printed page). The digest and key
id are only in the page's metadata (``<meta name="obruten-kit-sha256">``): nothing for IT is shown.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from obruten.platform.i18n import translator
from obruten.wardkit import present


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("obruten.wardkit", "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(present.TEMPLATE_HELPERS)
    return env


def html(data: dict, digest: str, key_id: str, lang: str = "sv") -> str:
    """The offline HTML document for ``data``."""
    return _environment().get_template("kit.html").render(
        t=translator(lang), lang=lang, unit=data["unit"], as_of=present.when(data["as_of"]),
        patients=data["patients"], digest=digest, key_id=key_id, kit_as_of=data["as_of"], status=data.get("status"))


def render(data: dict, digest: str, key_id: str, target: Path, lang: str = "sv") -> None:
    target.write_text(html(data, digest, key_id, lang), encoding="utf-8")
