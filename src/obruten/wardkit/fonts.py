"""The kit PDF's fonts: DejaVu Sans (regular, bold), TrueType, embedded (subset) in every PDF, so
every letter of a Nordic or European name prints (Č, Ŋ, Ø, Ł, …); the PDF standard fonts only
cover Windows-1252. DejaVu comes from Debian's ``fonts-dejavu-core`` (``make setup`` installs it;
see docs/adr/0048-shift-kit.md). ``OBRUTEN_KIT_FONT_DIR`` points elsewhere when needed.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from obruten.platform.errors import ObrutenError

REGULAR, BOLD = "ObrutenSans", "ObrutenSans-Bold"
FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
SEARCH = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"),
          Path("/usr/local/share/fonts/dejavu"))


class FontMissing(ObrutenError, RuntimeError):
    """The kit's fonts are not installed."""


def font_dir() -> Path:
    """The folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf."""
    env = os.environ.get("OBRUTEN_KIT_FONT_DIR")
    for folder in ((Path(env),) if env else ()) + SEARCH:
        if all((folder / name).is_file() for name in FILES.values()):
            return folder
    raise FontMissing("the kit PDF needs the DejaVu Sans fonts: install Debian's fonts-dejavu-core "
                      "(`apt-get install fonts-dejavu-core`; `make setup` does) or set OBRUTEN_KIT_FONT_DIR "
                      "to a folder with DejaVuSans.ttf and DejaVuSans-Bold.ttf")


@cache
def register() -> tuple[str, str]:
    """Register the fonts with reportlab (once per process); returns (regular, bold) names."""
    folder = font_dir()
    for name, file in FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)
    return REGULAR, BOLD
