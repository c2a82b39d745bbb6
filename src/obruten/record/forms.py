"""One mechanism for every journal HTML form: validate, and on a problem re-render the same form
with HTTP 422, each message in the user's language next to the field it concerns, and every
typed value kept.

A handler parses with ``parse`` (pydantic problems become ``FormProblem``) and calls the journal;
a ``FormProblem`` or a ``DomainError`` (a service refusing, e.g. "not your note") is turned by
``failed`` into a ``Filled`` form that the template's macros (``_forms.html``) show. A handler that
gathers problems from several steps before it answers (the medication forms: their fields, then
the safety rules) uses ``check``, which gives the same messages as a dict, and shows them with the
macros of ``_form_errors.html``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from obruten.platform.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, ObrutenError
from obruten.platform.i18n import STOCKHOLM, translator

M = TypeVar("M", bound=BaseModel)
FORM = "_form"  # a problem that concerns the whole form, shown at its top

# messages a model validator raises (English, for the API) and the field they concern
_VALIDATOR_FIELDS = {
    "not_given needs not_given_reason": "not_given_reason",
    "give either a personal number or unidentified (a reserve number is issued)": "personal_number",
    "an unidentified patient needs sex and an estimated birth year": "birth_year",
}


class FormProblem(ObrutenError):
    """What is wrong with a posted form, field by field (already in the user's language)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class Filled:
    """A form as the user left it: the typed values and the problems, per field name."""
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def value(self, name: str, default: object = "") -> str:
        return self.values.get(name, "" if default is None else str(default))

    @property
    def general(self) -> str:
        return self.errors.get(FORM, "")


def _message(err: dict[str, Any], lang: str) -> tuple[str, str]:
    t = translator(lang)
    loc = [str(p) for p in err.get("loc", ())]
    where = loc[0] if loc else FORM
    kind = str(err.get("type", ""))
    if kind == "value_error":
        said = str((err.get("ctx") or {}).get("error", err.get("msg", "")))
        where = _VALIDATOR_FIELDS.get(said, where)
        key = f"form.says.{said}"
        text = t(key)
        return where, text if text != key else said
    key = f"problem.{kind}"
    try:
        text = t(key, **(err.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        text = key
    if text == key:
        generic = t("form.invalid_value")
        text = generic if generic != "form.invalid_value" else str(err.get("msg", ""))
    return where, text


_LOCAL_INPUT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def _local(value: Any) -> Any:
    """A browser's ``datetime-local`` value is the ward's clock: Europe/Stockholm."""
    if isinstance(value, str) and _LOCAL_INPUT.match(value):
        try:
            return datetime.fromisoformat(value).replace(tzinfo=STOCKHOLM).isoformat()
        except ValueError:
            return value
    return value


def parse(model: type[M], data: dict[str, Any], lang: str) -> M:
    """``model`` from the posted fields (empty fields left out); a ``FormProblem`` if it does not fit."""
    try:
        return model.model_validate({k: _local(v) for k, v in data.items() if v != ""})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            where, text = _message(dict(err), lang)
            errors.setdefault(where, text)
        raise FormProblem(errors) from exc


def check(model: type[M], data: dict[str, Any], lang: str) -> tuple[M | None, dict[str, str]]:
    """``parse`` without raising: the model and no problems, or None and the problems per field."""
    try:
        return parse(model, data, lang), {}
    except FormProblem as exc:
        return None, exc.errors


_SHOWN_IN_FORM = (Invalid, Forbidden, NotFound, Conflict)


def status_of(exc: Exception) -> int:
    """The status the re-rendered form answers with; re-raises an error that has a page of its own
    (emergency access, writes blocked by a reserve routine, login) or is not the user's to fix."""
    if isinstance(exc, FormProblem):
        return 422
    if isinstance(exc, DomainError) and type(exc) in _SHOWN_IN_FORM:
        return exc.status
    raise exc


def failed(exc: Exception, data: dict[str, str], lang: str) -> Filled:
    """The form to show again after ``exc``: the typed values and the messages where they belong."""
    if isinstance(exc, FormProblem):
        return Filled(dict(data), exc.errors)
    if isinstance(exc, DomainError):
        t = translator(lang)
        where = str(exc.details.get("field") or FORM)
        key = str(exc.details.get("msg_key") or f"form.says.{exc.message}")
        values = {k: v for k, v in exc.details.items() if k not in ("field", "msg_key")}
        try:
            text = t(key, **values)
        except (KeyError, IndexError, ValueError):
            text = key
        return Filled(dict(data), {where: text if text != key else exc.message})
    raise exc
