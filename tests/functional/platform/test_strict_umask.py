"""An operator whose root shell has a strict umask (077, common on hardened hosts; importing Patroni
sets it too) can still start the embedded PostgreSQL: its service user reaches its own log."""

from __future__ import annotations

import os
import shutil

import psycopg

from obruten.platform.pgserver import DATABASE, PostgresInstance
from pgtools import free_port, reachable_tempdir


def test_embedded_postgres_starts_under_umask_077() -> None:
    base = reachable_tempdir("obruten-umask-")
    old = os.umask(0o077)
    pg = PostgresInstance.at(base, free_port())
    try:
        pg.init()
        pg.start()
        pg.ensure_database(DATABASE)
        with psycopg.connect(pg.url(), connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        os.umask(old)
        pg.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)
