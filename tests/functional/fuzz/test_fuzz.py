"""Schemathesis over the whole published OpenAPI of the journal, the ops service and the ward agent,
logged in: no case may answer with a server error, or with a status code, content type or body
the document does not describe (issue 12). ``make fuzz`` runs the same with more examples."""

from __future__ import annotations

import pytest

from .fuzzing import TALLIES, Tally, Target, fuzz

pytestmark = pytest.mark.fuzz


def _clean(tally: Tally, request: pytest.FixtureRequest) -> None:
    TALLIES.append(tally)  # printed at the end of the run (conftest.py beside this file)
    assert tally.operations > 0 and tally.cases >= tally.operations
    assert not tally.failed, tally.report()


def test_journal_api(journal: Target, request: pytest.FixtureRequest) -> None:
    _clean(fuzz("journal", journal.base, "/api/v1/openapi.json", headers=journal.headers, known=journal.known),
           request)


def test_ops_api(ops: Target, request: pytest.FixtureRequest) -> None:
    _clean(fuzz("ops", ops.base, "/api/v1/openapi.json", headers=ops.headers, known=ops.known), request)


def test_ward_agent_api(ward_agent: Target, request: pytest.FixtureRequest) -> None:
    _clean(fuzz("ward agent", ward_agent.base, "/api/v1/openapi.json", headers=ward_agent.headers,
                known=ward_agent.known), request)
