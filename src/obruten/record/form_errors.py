"""Form errors next to the field: validate posted form text into a model and, when it fails, say
per field what is wrong in the reader's language, so the page is rendered again (422) with what
was typed kept. Used by the medication forms (``record.web_medication``); meant to be the one
mechanism every journal form uses (issue 14, item 7).

Templates show the messages with the ``field_error`` macro of ``_form_errors.html``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from obruten.platform.problems import problems_of

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError, lang: str) -> dict[str, str]:
    """``{field: message}`` for a pydantic error (first message per field; "" for the whole form)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p != "body"]
        name = str(loc[0]) if loc else ""
        text = problems_of([{**err, "loc": ()}], lang)[0]
        out.setdefault(name, text)
    return out


def validate(model: type[M], data: Mapping[str, Any], lang: str) -> tuple[M | None, dict[str, str]]:
    """The model, or None and the errors per field. Empty form fields count as not given."""
    try:
        return model.model_validate({k: v for k, v in data.items() if v != ""}), {}
    except ValidationError as exc:
        return None, field_errors(exc, lang)
