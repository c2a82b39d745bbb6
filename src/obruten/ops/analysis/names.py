"""Where the de-identifier learns which words are people's names: pluggable sources.

A source is asked about the capitalised words found in the analysis (never for its whole list),
and answers which of them are name parts it knows. That keeps a journal with 1.6 million
patients workable: one query per export, answering only for words already in the text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from obruten.ops.store import Store
from obruten.platform.errors import ObrutenError


class NameSourceError(ObrutenError, RuntimeError):
    """A configured source could not answer; a de-identified export must not go out without it."""


class NameSource(Protocol):
    name: str

    def known(self, words: set[str]) -> set[str]:
        """The subset of ``words`` (capitalised words from the text) that are names it knows."""
        ...


def _parts(full_names: Iterable[str]) -> set[str]:
    return {part for full in full_names for part in full.replace("-", " ").split() if len(part) > 1}


class StaticNames:
    """A fixed list of names, e.g. the people named in the analysis's own header."""

    name = "static"

    def __init__(self, full_names: Iterable[str]) -> None:
        self._parts = _parts(n for n in full_names if n)

    def known(self, words: set[str]) -> set[str]:
        return words & self._parts


class OpsUserNames:
    """The ops console's users (on-call IT staff, officers on duty)."""

    name = "ops users"

    def __init__(self, store: Store) -> None:
        self.store = store

    def known(self, words: set[str]) -> set[str]:
        return words & _parts(r["full_name"] for r in self.store.all("SELECT full_name FROM ops_user"))


class JournalNames:
    """Staff and patient names in the journal database (PostgreSQL), when its URL is configured.

    Only name parts that already occur in the text come back; no patient id or record is read."""

    name = "journal"

    def __init__(self, url: str, timeout_s: int = 10) -> None:
        self.url, self.timeout_s = url, timeout_s

    def known(self, words: set[str]) -> set[str]:
        if not words:
            return set()
        import psycopg

        wanted = sorted(words)
        sql = """
            SELECT part FROM staff, unnest(string_to_array(replace(full_name, '-', ' '), ' ')) AS part
             WHERE part = ANY(%(w)s)
            UNION
            SELECT part FROM patient, unnest(string_to_array(replace(given_name || ' ' || family_name, '-', ' '), ' '))
                   AS part WHERE part = ANY(%(w)s)
        """
        try:
            with psycopg.connect(self.url, connect_timeout=self.timeout_s, autocommit=True) as conn:
                conn.execute(f"SET statement_timeout = '{int(self.timeout_s)}s'")
                return {r[0] for r in conn.execute(sql, {"w": wanted}).fetchall()}
        except psycopg.Error as exc:
            raise NameSourceError(
                f"the journal database did not answer for staff and patient names ({exc.__class__.__name__}: "
                f"{str(exc).strip()[:200]}); a de-identified report needs them. Retry when the journal is "
                f"reachable, or check journal_url in the ops settings") from exc


def name_sources(store: Store, journal_url: str | None) -> list[NameSource]:
    """Where names come from for de-identification: the ops users, and the journal's staff and
    patients when the ops settings name a journal database (``journal_url``)."""
    sources: list[NameSource] = [OpsUserNames(store)]
    if journal_url:
        sources.append(JournalNames(journal_url))
    return sources
