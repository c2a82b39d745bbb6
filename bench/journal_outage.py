"""The journal while its database is gone and when it is back (issue 13, ADR 0050).

One embedded PostgreSQL with a small seeded region, the journal served by ``obruten serve`` as a
subprocess (the code on ``PYTHONPATH``: run it once on the old tree and once on the new one to
compare). Each round: log in, then stop PostgreSQL with ``-m immediate`` (every backend killed) and
time four answers: an API login, an API patient read and an API note write, one after the other,
then a login 3 s after the kill (status and seconds; the client waits up to 40 s; status 0: the
connection was dropped without an answer); then start PostgreSQL again and time how long
after it accepts a write (a direct connection, polled every 20 ms) the journal acknowledges its
first note (a write every 50 ms, not restarted). Figures: median and min–max over the rounds,
beside the goals (every answer within 2 s as a 503; first write within 2 s of the database).

    PYTHONPATH=src .venv/bin/python bench/journal_outage.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from _harness import clean_up, exit_on_sigterm, free_port, reachable_tempdir, say, start_seeded, start_server  # noqa: E402
from _http import wait_healthy  # noqa: E402
from _machine import machine_info, print_machine_info  # noqa: E402
from obruten.platform.pgserver import PostgresInstance  # noqa: E402
from obruten.record.schema import app_url  # noqa: E402

GOAL_S = 2.0


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s  ({min(values):.2f}–{max(values):.2f})" if values else "-"


def one_round(pg: PostgresInstance, base: str, n: int) -> dict[str, object]:
    with httpx.Client(base_url=base, timeout=40) as c:
        token = c.post("/api/v1/login", json={"username": "sjukskoterska", "password": "demo"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        unit = c.get("/api/v1/units", headers=auth).json()[0]["id"]
        patient = c.get(f"/api/v1/units/{unit}/patients", headers=auth).json()[0]["id"]
        pg.stop(mode="immediate")
        killed = time.monotonic()
        answers: dict[str, tuple[int, float]] = {}
        for what, call in (
            ("login", lambda: c.post("/api/v1/login", json={"username": "lakare", "password": "demo"})),
            ("read", lambda: c.get(f"/api/v1/patients/{patient}", headers=auth)),
            ("write", lambda: c.post(f"/api/v1/patients/{patient}/notes", headers=auth,
                                     json={"kind": "omvardnad", "body": f"runda {n} nere"})),
            ("login 3 s later", lambda: c.post("/api/v1/login", json={"username": "lakare", "password": "demo"})),
        ):
            started = time.monotonic()
            try:
                status = call().status_code
            except httpx.HTTPError:
                status = 0
            answers[what] = (status, time.monotonic() - started)
            if what == "write":  # once the pool has dropped its dead connections: a login 3 s after the kill
                time.sleep(max(0.0, killed + 3 - time.monotonic()))
        db_writable: list[float] = []

        def watch_db() -> None:
            while True:
                try:
                    with psycopg.connect(pg.url(), connect_timeout=1, autocommit=True) as conn:
                        if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
                            db_writable.append(time.monotonic())
                            return
                except psycopg.Error:
                    time.sleep(0.02)

        watcher = threading.Thread(target=watch_db)
        starter = threading.Thread(target=pg.start)
        watcher.start()
        starter.start()
        first_ack = None
        deadline = time.monotonic() + 120
        while first_ack is None and time.monotonic() < deadline:
            try:
                r = c.post(f"/api/v1/patients/{patient}/notes", headers=auth,
                           json={"kind": "omvardnad", "body": f"runda {n} tillbaka"})
                if r.status_code == 201:
                    first_ack = time.monotonic()
            except httpx.HTTPError:
                pass
            if first_ack is None:
                time.sleep(0.05)
        starter.join()
        watcher.join(timeout=30)
    after = (first_ack - db_writable[0]) if first_ack and db_writable else None
    return {"answers": answers, "first_write_after_db_s": after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    exit_on_sigterm()
    folder = reachable_tempdir("obruten-bench-outage-")
    pg = PostgresInstance.at(folder, free_port(), name="journal")
    server = None
    try:
        start_seeded(pg, 100)
        port = free_port()
        server = start_server(app_url(pg.url(), folder / "app-password"), folder / "var", port, 1, None)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, server)
        rounds = []
        for n in range(1, args.rounds + 1):
            result = one_round(pg, base, n)
            say(f"round {n}: {result}")
            rounds.append(result)
        print_machine_info(machine_info(code=str(list(sys.modules["obruten"].__path__)[0])))
        print(f"{'with PostgreSQL killed':<34} {'median (min–max)':<24} statuses          goal")
        for what in ("login", "read", "write", "login 3 s later"):
            times = [r["answers"][what][1] for r in rounds]  # type: ignore[index]
            statuses = sorted({r["answers"][what][0] for r in rounds})  # type: ignore[index]
            print(f"  {what:<32} {_spread(times):<24} {statuses!s:<17} 503 within {GOAL_S:.0f} s")
        back = [float(r["first_write_after_db_s"]) for r in rounds if r["first_write_after_db_s"] is not None]
        print(f"{'first write after DB writable':<34} {_spread(back):<24} {len(back)}/{len(rounds)} rounds"
              f"     within {GOAL_S:.0f} s")
    finally:
        clean_up(server, [pg], folder)


if __name__ == "__main__":
    main()
