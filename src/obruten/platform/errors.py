"""The error root and the journal's domain errors.

Every error class of Obruten derives from ``ObrutenError``: its message says what went wrong and
what to do next, so the command line shows it as one line (``clikit.guard``) and the web layer
maps the domain errors below to 4xx.
"""

from __future__ import annotations


class ObrutenError(Exception):
    """Something Obruten knows how to explain: the message says what went wrong and what to do next."""


class DomainError(ObrutenError):
    status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Invalid(DomainError):
    status = 422


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class NeedsEmergencyAccess(Forbidden):
    """The patient is outside the user's care units: emergency access with a reason is needed."""


class Conflict(DomainError):
    status = 409


class Unauthenticated(DomainError):
    status = 401
