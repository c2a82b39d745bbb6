"""Helpers for tests that start their own PostgreSQL (imported as ``pgtools``; conftest is not importable
by name once several conftest.py files exist)."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import psycopg

from obruten.pgserver import PostgresInstance
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


def fresh_database(pg: PostgresInstance, name: str) -> str:
    """A new, migrated database on the shared test server (dropped and recreated if it exists)."""
    with psycopg.connect(pg.url("postgres"), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    url = pg.url(name)
    migrate(url)
    return url
