"""The journal's record tests share a logged-in physician (``doctor``) and nurse (``nurse``): API
sessions over real HTTP, one per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pgtools import Session, login


@pytest.fixture(scope="module")
def doctor(journal_server) -> Iterator[Session]:
    with login(journal_server.base, "lakare") as client:
        yield client


@pytest.fixture(scope="module")
def nurse(journal_server) -> Iterator[Session]:
    with login(journal_server.base, "sjukskoterska") as client:
        yield client
