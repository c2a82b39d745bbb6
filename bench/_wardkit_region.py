"""The region the ward-kit benchmark builds from: its own embedded PostgreSQL, seeded once, reused.

``obruten.devtools.seed.generate`` makes ``clamp(patients / 1500, 8, 1100)`` care units, so a 1,100-unit
region needs 1,650,000 patients (about two thirds of the units are wards with open admissions).
Seeding that takes minutes, so the server's data directory is kept (``--region-dir``) and reused
by later runs; ``--fresh`` starts over.
"""

from __future__ import annotations

import shutil
import socket
import sys
import time
from pathlib import Path

from obruten.devtools import seed
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.record.schema import migrate

PATIENTS_PER_UNIT = 1500
MARKER = "seeded-patients"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def region(base: Path, units: int, *, fresh: bool = False, say=print) -> tuple[PostgresInstance, str]:  # type: ignore[no-untyped-def]
    """A running PostgreSQL under ``base`` holding a seeded region with ``units`` care units."""
    patients = max(units * PATIENTS_PER_UNIT, 100)
    if fresh and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    pg = PostgresInstance.at(base, free_port())
    marker = base / MARKER
    if marker.exists() and marker.read_text().strip() != str(patients):
        raise SystemExit(f"{base} holds a region of {marker.read_text().strip()} patients, not {patients}; "
                         "pass --fresh to reseed or another --region-dir")
    if not pg.initialized:
        pg.init({"shared_buffers": "256MB", "max_wal_size": "4GB", "checkpoint_timeout": "30min"})
    if pg.is_running():
        pg.stop()
    pg.start()
    pg.ensure_database(DATABASE)
    url = pg.url()
    migrate(url)
    if not marker.exists():
        say(f"seeding {patients:,} patients ({units} units); this takes minutes and is done once per --region-dir")
        started = time.monotonic()
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            if time.monotonic() - last[0] > 5 or done == total:
                last[0] = time.monotonic()
                say(f"  {stage:<12} {done:>10,}/{total:,}  {time.monotonic() - started:6.0f} s")

        seed.generate(url, patients, seed=11, progress=progress, demo_logins=False)
        marker.write_text(str(patients))
        say(f"seeded in {time.monotonic() - started:.0f} s")
    return pg, url


if __name__ == "__main__":
    where = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/obruten-wardkit-bench")
    instance, _ = region(where, int(sys.argv[2]) if len(sys.argv) > 2 else 1100)
    instance.stop()
