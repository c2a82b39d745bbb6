"""Shared fixtures: a real PostgreSQL started by the tests (as an unprivileged user when root)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from obruten.pgserver import DATABASE, PostgresInstance
from obruten.schema import migrate


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def reachable_tempdir(prefix: str) -> Path:
    """A temp dir the PostgreSQL service user can enter (pytest's own tmp dirs are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(path, 0o755)
    return path


@pytest.fixture(scope="session")
def pg() -> Iterator[PostgresInstance]:
    base = reachable_tempdir("obruten-test-")
    instance = PostgresInstance.at(base, free_port())
    instance.init()
    instance.start()
    instance.ensure_database(DATABASE)
    migrate(instance.url())
    yield instance
    instance.stop(mode="immediate")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def db_url(pg: PostgresInstance) -> str:
    return pg.url()


@pytest.fixture
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c
