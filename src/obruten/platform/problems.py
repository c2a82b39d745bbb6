"""One error shape for every JSON API, and the mapping of what goes wrong at the edge onto it.

Every API error answers ``{"error": message, "problems": [...]}`` (``Problem``): ``error`` says
what went wrong and what to do, ``problems`` lists each refused field as ``"where: what"``. The
messages this module makes are in the reader's language (``lang`` cookie, else
``Accept-Language``, else the app's default: Swedish). An app may add keys (``details``,
``read_copy``); clients rely on these two.

Mapped here, once for the journal, the ops service and the ward agent:

- invalid input (``RequestValidationError``, a pydantic ``ValidationError`` of a form): 422, each
  problem named, the messages of ``platform.fields`` translated;
- a database refusing a value that got past the models (``psycopg`` integrity and data errors,
  SQLite's ``OverflowError``): 409 for a duplicate, 422 otherwise; never a 500;
- ``HTTPException`` on an API path: the same shape (``detail`` kept for older clients).

``document`` puts the error responses into an app's OpenAPI document, so what the API answers is
what it documents (``tests/functional/fuzz`` holds every app to it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from obruten.platform.errors import DomainError
from obruten.platform.i18n import LANGUAGES, pick_language, translator

LANG_COOKIE = "lang"

# what an API may answer beside its success, documented on every operation (``document``)
ERROR_STATUSES = {
    400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found", 409: "Conflict",
    413: "Request too large", 422: "Invalid input", 423: "Writes are paused (operating mode)",
    503: "Temporarily unavailable",
}


class Problem(BaseModel):
    """The body of every API error."""

    model_config = ConfigDict(extra="allow")
    error: str
    problems: list[str] = []


def body(message: str, problems: Sequence[str] = (), **extra: object) -> dict[str, Any]:
    return {"error": message, "problems": list(problems), **extra}


def answer(message: str, status: int, problems: Sequence[str] = (), **extra: object) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body(message, problems, **extra)), status_code=status)


def domain_answer(exc: DomainError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A domain error in the one shape: its message, its ``problems`` detail when that is a list
    of sentences, the other details beside them; ``headers`` such as a throttled login's Retry-After."""
    details = dict(exc.details)
    found = details.get("problems")
    if isinstance(found, list) and all(isinstance(p, str) for p in found):
        del details["problems"]
    else:
        found = []
    response = answer(exc.message, exc.status, found, **({"details": details} if details else {}))
    response.headers.update(headers or {})
    return response


# ---- the reader's language ------------------------------------------------------------------------
def language(request: Request, default: str = "sv") -> str:
    """The ``lang`` cookie, else the first language of ``Accept-Language`` we have, else ``default``
    (resolved by ``i18n.pick_language``, the one resolver every UI uses)."""
    return pick_language(request.cookies.get(LANG_COOKIE) or _accepted(request.headers.get("accept-language", "")),
                         default)


def _accepted(header: str) -> str | None:
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return None


# ---- invalid input ----------------------------------------------------------------------------------
def problems_of(errors: Iterable[Any], lang: str) -> list[str]:
    """``where: what`` for each pydantic error; our own rules (``platform.fields``) translated."""
    t = translator(lang)
    out = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        where = ".".join(str(p) for p in (loc[1:] if loc[:1] == ("body",) else loc))
        key = f"problem.{err.get('type')}"
        try:
            what = t(key, **(err.get("ctx") or {}))
        except (KeyError, IndexError, ValueError):  # a message that needs what this error does not say
            what = key
        what = str(err.get("msg")) if what == key else what
        out.append(f"{where}: {what}" if where else what)
    return out


def invalid_input(errors: Iterable[Any], lang: str) -> tuple[str, list[str]]:
    found = problems_of(errors, lang)
    return translator(lang)("error.invalid_input", problems="; ".join(found)), found


# ---- the database refusing a value ---------------------------------------------------------------------
def database_refusal(exc: Exception) -> tuple[int, str, str] | None:
    """(status, message key, detail) for a database error caused by the request's data, else None
    (a database that is down or broken stays a server error)."""
    if isinstance(exc, psycopg.errors.UniqueViolation):
        return 409, "error.duplicate", exc.diag.constraint_name or ""
    if isinstance(exc, psycopg.errors.ForeignKeyViolation):
        return 422, "error.unknown_reference", exc.diag.constraint_name or ""
    if isinstance(exc, psycopg.errors.IntegrityError | psycopg.errors.DataError):
        return 422, "error.refused_value", exc.diag.message_primary or ""
    if isinstance(exc, OverflowError):  # SQLite: an integer beyond 64 bits
        return 422, "error.refused_value", str(exc)
    return None


def database_problem(exc: Exception, lang: str) -> tuple[int, str, list[str]] | None:
    refusal = database_refusal(exc)
    if refusal is None:
        return None
    status, key, detail = refusal
    return status, translator(lang)(key), [detail] if detail else []


# ---- installing it --------------------------------------------------------------------------------------
Page = Callable[[Request, int, str], Any]


def install(app: FastAPI, *, default_language: Callable[[Request], str] = lambda _: "sv",
            is_api: Callable[[Request], bool] = lambda r: r.url.path.startswith("/api/"),
            page: Page | None = None, http_errors: bool = True) -> None:
    """Map invalid input and database refusals to ``Problem`` answers on API paths and to
    ``page(request, status, message)`` on the others; with ``http_errors``, ``HTTPException`` too
    (always JSON, as FastAPI answers it, with ``detail`` kept beside ``error``)."""

    def lang(request: Request) -> str:
        return language(request, default_language(request))

    def respond(request: Request, status: int, message: str, found: Sequence[str], **extra: object) -> Any:
        if is_api(request) or page is None:
            return answer(message, status, found, **extra)
        return page(request, status, message)

    async def on_invalid(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        message, found = invalid_input(exc.errors(), lang(request))
        return respond(request, 422, message, found)

    async def on_database(request: Request, exc: Exception) -> Any:
        mapped = database_problem(exc, lang(request))
        if mapped is None:
            raise exc
        status, message, found = mapped
        return respond(request, status, message, found)

    async def on_http(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else translator(lang(request))("error.http")
        extra = {"detail": exc.detail}
        return JSONResponse(jsonable_encoder(body(message, (), **extra)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_exception_handler(RequestValidationError, on_invalid)
    for error in (psycopg.errors.IntegrityError, psycopg.errors.DataError, OverflowError):
        app.add_exception_handler(error, on_database)
    if http_errors:
        app.add_exception_handler(HTTPException, on_http)


def document(app: FastAPI, *, is_api: Callable[[str], bool] = lambda path: path.startswith("/api/")) -> None:
    """Every operation of ``app``'s OpenAPI document lists the error answers (``ERROR_STATUSES``):
    a ``Problem`` on API paths, an HTML page elsewhere. FastAPI's own 422 schema, which our
    handler does not answer with, is replaced."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = Problem.model_json_schema()
        for key in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(key, None)
        json_error = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        html_error = {"text/html": {"schema": {"type": "string"}}}
        for path, operations in schema.get("paths", {}).items():
            content = json_error if is_api(path) else html_error
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, description in ERROR_STATUSES.items():
                    if str(status) == "422" or str(status) not in responses:
                        responses[str(status)] = {"description": description, "content": content}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
