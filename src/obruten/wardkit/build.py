"""Build kits: one unit → kit.json + kit.pdf + kit.html + signed manifest.json; many units on a
process pool (PDF drawing is CPU-bound Python, so one process per core; each keeps one database
connection and one event loop for all the units it is given).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from obruten.platform.flags import Switch, state
from obruten.platform.signing import SignatureError, SigningKey, canonical, load_or_create_key, sha256_hex
from obruten.status.ledger import Ledger
from obruten.wardkit import content, render_html, render_pdf
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import KitStore, safe_name

KEEP_PER_UNIT = 12        # an hour of five-minute kits
CHUNK = 4                 # units per pool task


def kits_root(var_dir: Path) -> Path:
    return var_dir / "wardkits"


def key_path(var_dir: Path) -> Path:
    return kits_root(var_dir) / "signing-key.pem"


def signing_key(var_dir: Path) -> SigningKey:
    """The builder's signing key (created once) and its line in ``var_dir/wardkits/trusted_keys``."""
    key = load_or_create_key(key_path(var_dir))
    trusted = kits_root(var_dir) / "trusted_keys"
    line = key.trusted_line()
    if not trusted.exists() or line not in trusted.read_text().splitlines():
        with trusted.open("a") as fh:
            fh.write(line + "\n")
    return key


def stamp_of(generated_at: str) -> str:
    """``20261122T054306Z``: sortable, safe as a directory name."""
    return datetime.fromisoformat(generated_at).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True)
class Built:
    unit: str
    stamp: str
    patients: int
    sql_s: float
    render_s: float
    path: Path


def write_kit(data: dict, store: KitStore, key: SigningKey, lang: str = "sv", mar_grid: bool = True) -> Built:
    """Render and sign ``data`` into ``store`` (a kit appears complete or not at all). ``mar_grid``
    (flag ``kit_mar_grid``): the PDF's medications as a signing grid, else the medication table."""
    started = time.perf_counter()
    blob = canonical(data)
    digest = sha256_hex(blob)
    stamp = store.free_stamp(stamp_of(data["generated_at"]))
    staged = store.staging(stamp)
    (staged / "kit.json").write_bytes(blob)
    render_pdf.render(data, digest, key.key_id, staged / "kit.pdf", lang, mar_grid=mar_grid)
    render_html.render(data, digest, key.key_id, staged / "kit.html", lang)
    body = {"unit": data["unit"]["id"], "stamp": stamp, "as_of": data["as_of"], "generated_at": data["generated_at"],
            "patients": len(data["patients"]), "key_id": key.key_id, "data_sha256": digest,
            "files": {name: mf.file_entry(staged / name) for name in mf.KIT_FILES}}
    (staged / mf.MANIFEST).write_text(json.dumps(mf.sign(body, key), indent=1, sort_keys=True), encoding="utf-8")
    kit = store.add(staged, stamp)
    return Built(body["unit"], kit.stamp, body["patients"], 0.0, time.perf_counter() - started, kit.path)


def unit_store(var_dir: Path, unit: str, keep: int = KEEP_PER_UNIT) -> KitStore:
    return KitStore(kits_root(var_dir) / safe_name(unit), keep=keep, durable=False)


def status_for(var_dir: Path, unit: str) -> dict | None:
    """The region's status message in force for ``unit`` on this node (``var_dir/status``), as the
    kit records it: what staff read on the paper's every page. None when the node holds none."""
    try:
        doc = Ledger(var_dir).current()
    except (OSError, ValueError, SignatureError):
        return None
    if doc is None:
        return None
    return {"version": doc.version, "mode": doc.mode_for(unit), "headline": doc.headline, "routine": doc.routine,
            "issued_at": doc.issued_at}


MAR_GRID = "kit_mar_grid"  # the journal's flag (record/flags.py): the PDF's signing grid


async def mar_grid_on(conn: psycopg.AsyncConnection, unit: str) -> bool:
    """Is flag ``kit_mar_grid`` on for ``unit``? (Read here, not through record.flags: the kit builder
    stays importable without the journal's modules.)"""
    cur = await conn.execute("SELECT to_regclass('feature_flag_switch') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return False
    cur = await conn.execute("SELECT flag, unit_id, enabled, switched_at, switched_by, reason FROM feature_flag_switch"
                             " WHERE flag = %s", (MAR_GRID,))
    return state([Switch(*r) for r in await cur.fetchall()], MAR_GRID, unit)


async def build_unit(conn: psycopg.AsyncConnection, unit: str, var_dir: Path, key: SigningKey,
                     now: datetime | None = None, keep: int = KEEP_PER_UNIT) -> Built:
    """Read one unit's kit data and write its signed kit under ``var_dir/wardkits/<unit>/``."""
    safe_name(unit)
    started = time.perf_counter()
    data = json.loads(await content.unit_kit_json(conn, unit, now))
    data["status"] = status_for(var_dir, unit)
    sql_s = time.perf_counter() - started
    built = write_kit(data, unit_store(var_dir, unit, keep), key, mar_grid=await mar_grid_on(conn, unit))
    return Built(built.unit, built.stamp, built.patients, sql_s, built.render_s, built.path)


# ---- the process pool ------------------------------------------------------------------------------
@dataclass
class _Worker:
    """What each pool process keeps between chunks: its event loop and its database connection."""

    loop: asyncio.AbstractEventLoop
    url: str
    var_dir: Path
    keep: int
    key: SigningKey
    conn: psycopg.AsyncConnection | None = None


_worker: _Worker | None = None  # set in each pool process by _init_worker


def _init_worker(url: str, var_dir: str, keep: int, nice: int = 0) -> None:
    global _worker
    if nice:   # a full round under `wardkit run`: the listener's rebuilds of changed units go first
        os.nice(nice)
    _worker = _Worker(asyncio.new_event_loop(), url, Path(var_dir), keep, load_or_create_key(key_path(Path(var_dir))))


def _build_chunk(units: list[str]) -> list[Built | tuple[str, str]]:
    if _worker is None:
        raise RuntimeError("_build_chunk runs in a pool process started with _init_worker")
    return _worker.loop.run_until_complete(_chunk(_worker, units))


async def _chunk(worker: _Worker, units: list[str]) -> list[Built | tuple[str, str]]:
    out: list[Built | tuple[str, str]] = []
    for unit in units:
        try:
            conn = worker.conn
            if conn is None or conn.closed:
                conn = await psycopg.AsyncConnection.connect(worker.url, autocommit=True)
                worker.conn = conn
            out.append(await build_unit(conn, unit, worker.var_dir, worker.key, keep=worker.keep))
        except Exception as exc:  # one unit's failure must not stop the other wards' kits
            out.append((unit, f"{type(exc).__name__}: {exc}"))
            if isinstance(exc, psycopg.OperationalError):
                worker.conn = None
    return out


Progress = Callable[[Built | tuple[str, str]], None]


def build_units(url: str, units: Iterable[str], var_dir: Path, *, workers: int | None = None,
                keep: int = KEEP_PER_UNIT, progress: Progress | None = None,
                nice: int = 0) -> list[Built | tuple[str, str]]:
    """Build every unit's kit on ``workers`` processes (default: one per core). Returns one entry per
    unit: a ``Built``, or ``(unit, error)`` for a unit that failed (the others are still built)."""
    units = [safe_name(u) for u in units]
    signing_key(var_dir)  # created once here, before the workers read it
    workers = max(1, min(workers or os.cpu_count() or 1, len(units) or 1))
    chunks = [units[i:i + CHUNK] for i in range(0, len(units), CHUNK)]
    results: list[Built | tuple[str, str]] = []
    # forkserver, not fork: ``wardkit run`` has a listener thread (``listen``) that a fork would copy mid-step
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_init_worker, initargs=(url, str(var_dir), keep, nice)) as pool:
        pending: set[Future] = {pool.submit(_build_chunk, chunk) for chunk in chunks}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for item in future.result():
                    results.append(item)
                    if progress:
                        progress(item)
    return results
