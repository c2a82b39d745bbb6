"""Schema-driven fuzzing with Schemathesis: every operation of an app's published OpenAPI document,
positive and negative cases, each response checked for a server error and against the documented
status codes, content types and response schemas.

Unlike Schemathesis' own pytest plugin, which stops an operation at its first failure, ``fuzz``
runs every case and tallies them, so a run says how many cases failed and how (the figures the
issue reports). The tests assert the tally is clean and print it.

``OBRUTEN_FUZZ_EXAMPLES`` sets the examples per operation and mode (``make fuzz`` raises it);
``OBRUTEN_FUZZ_SEED`` fixes the seed (the default run is derandomized, so ``make test`` is
repeatable; ``make fuzz`` draws a fresh seed each run and prints it).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("OBRUTEN_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("OBRUTEN_FUZZ_SEED")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
TALLIES: list[Tally] = []  # every API fuzzed in this run, for the summary at its end


@dataclass
class Target:
    """A served app: where it is, what to send with every request, which path values exist."""

    base: str
    headers: dict[str, str]
    known: dict[str, list[Any]]


@dataclass
class Tally:
    """What one fuzz run did: per API, the operations, the cases sent, the cases answered with a
    server error, and the other cases whose answer the document does not describe (status code,
    content type or body); ``failed`` counts the failed checks by name."""

    api: str
    operations: int = 0
    cases: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    failed: Counter[str] = field(default_factory=Counter)   # check name -> failed cases
    samples: dict[str, str] = field(default_factory=dict)    # "METHOD /path check" -> one example

    def line(self) -> str:
        return (f"{self.api}: {self.operations} operations, {self.cases} cases, {self.server_errors} server errors, "
                f"{self.schema_violations} schema/status violations")

    def report(self, limit: int = 25) -> str:
        lines = [self.line()]
        lines += [f"  {where}: {sample}" for where, sample in sorted(self.samples.items())[:limit]]
        return "\n".join(lines)


def fuzz(api: str, base_url: str, schema_path: str, *, headers: Mapping[str, str] | None = None,
         known: Mapping[str, list[Any]] | None = None, examples: int = EXAMPLES) -> Tally:
    """Fuzz every operation of the OpenAPI document at ``base_url + schema_path``.

    ``headers`` go with every request (the login). ``known`` maps a path parameter name to values
    that exist (a patient, an entry, a unit): half the cases of an operation with such a parameter
    use one of them, so bodies are fuzzed against real records and not only refused with 404.
    """
    document = httpx.get(base_url + schema_path, timeout=30).raise_for_status().json()
    schema = schemathesis.openapi.from_dict(document)
    tally = Tally(api)
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            tally.operations += 1
            for mode in MODES:
                _fuzz_operation(operation, mode, base_url, session, dict(headers or {}), known or {}, examples, tally)
    return tally


def _fuzz_operation(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str,
                    session: requests.Session, headers: dict[str, str], known: Mapping[str, list[Any]],
                    examples: int, tally: Tally) -> None:
    names = {p.name for p in operation.path_parameters}
    strategy = operation.as_strategy(mode)
    fixed = {name: values for name, values in known.items() if name in names}
    if fixed:
        strategy = st.one_of(strategy, st.fixed_dictionaries(
            {name: st.sampled_from(values) for name, values in fixed.items()}).flatmap(
            lambda chosen: operation.as_strategy(mode, path_parameters=chosen)))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=SEED is None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
              print_blob=False)
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=60, allow_redirects=False)
        tally.cases += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            checks = {check for failure in group.exceptions for check in failure.checks}
            if "not_a_server_error" in checks:
                tally.server_errors += 1
            else:
                tally.schema_violations += 1
            for failure in group.exceptions:
                check = failure.checks[0] if failure.checks else type(failure).__name__
                tally.failed[check] += 1
                where = f"{operation.method.upper()} {operation.path} {check}"
                sent = case.body if case.body is not None and not isinstance(case.body, NotSet) else case.query
                answered = _short(response.content.decode("utf-8", "replace"))
                tally.samples.setdefault(where, f"{response.status_code} {failure.title}: {answered}"
                                                f" <- {_short(response.request.url or '')} {_short(repr(sent))}")

    if SEED is not None:
        run = seed(int(SEED))(run)
    try:
        run()
    except Unsatisfiable:  # nothing to negate (an operation without parameters or body): no negative cases
        if mode is GenerationMode.POSITIVE:
            raise


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "…"
