"""``obruten wardkit``: build kits (once or every N minutes), verify a kit file offline, and print
the signing key's trusted-keys line and a unit's agent token."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import psycopg

from obruten.platform import clikit, events
from obruten.platform.database import url_for
from obruten.platform.signing import SignatureError, TrustedKeys
from obruten.wardkit import content
from obruten.wardkit import manifest as mf
from obruten.wardkit.store import safe_name
from obruten.wardkit.tokens import agent_token


@click.group(cls=clikit.Group)
def wardkit() -> None:
    """Ward downtime kits (reservkit): build, schedule, verify."""


def _database_url(ctx: click.Context, database_url: str | None) -> str:
    return database_url or url_for(clikit.config_from(ctx))


DATABASE_URL = click.option("--database-url", help="Read from this PostgreSQL (the read copy when there is one); "
                                                  "default: obruten --database-url, else the embedded one.")


def _units(url: str, units: tuple[str, ...], every_unit: bool) -> list[str]:
    if bool(units) == every_unit:
        raise click.UsageError("name units with --unit (repeatable) or build every unit with --all")
    if units:
        return list(units)

    async def run() -> list[str]:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=10) as conn:
            return await content.unit_ids(conn)
    return asyncio.run(run())


def _build_round(ctx: click.Context, database_url: str | None, units: tuple[str, ...], every_unit: bool,
                 workers: int | None, keep: int, show_bar: bool,
                 nice: int = 0) -> tuple[int, int, list[tuple[str, str]], float]:
    # the kit builder brings reportlab and PIL: ~120 ms at import (python -X importtime), paid by the
    # commands that use it, not by every `obruten` command
    from obruten.wardkit.build import Built, build_units

    cfg = clikit.config_from(ctx)
    url = _database_url(ctx, database_url)
    try:
        targets = _units(url, units, every_unit)
    except psycopg.OperationalError as exc:
        raise click.ClickException(f"cannot reach the database ({exc}); check --database-url (the read copy "
                                   "when there is one) and that it is running") from exc
    started = time.monotonic()
    failures: list[tuple[str, str]] = []
    patients = 0
    with click.progressbar(length=len(targets), label="wardkits", file=sys.stderr, show_pos=True,
                           hidden=not show_bar) as bar:
        def progress(item: Built | tuple[str, str]) -> None:
            nonlocal patients
            if isinstance(item, tuple):
                failures.append(item)
            else:
                patients += item.patients
            bar.update(1)
        try:
            build_units(url, targets, cfg.var_dir, workers=workers, keep=keep, progress=progress, nice=nice)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    return len(targets), patients, failures, time.monotonic() - started


def _report(n: int, patients: int, failures: list[tuple[str, str]], seconds: float) -> str:
    sentence = f"built {n - len(failures)} of {n} unit kits ({patients} patients) in {seconds:.1f} s"
    if failures:
        sentence += f"; {len(failures)} failed, first: {failures[0][0]}: {failures[0][1]}"
    return sentence


@wardkit.command("build")
@click.option("--unit", "units", multiple=True, help="Care unit id (repeatable).")
@click.option("--all", "every_unit", is_flag=True, help="Every care unit.")
@click.option("--workers", type=click.IntRange(1, 64), help="Processes (default: one per core).")
@click.option("--keep", type=click.IntRange(1, 1000), default=12, show_default=True, help="Kits kept per unit.")
@DATABASE_URL
@click.pass_context
def build_cmd(ctx: click.Context, units: tuple[str, ...], every_unit: bool, workers: int | None, keep: int,
              database_url: str | None) -> None:
    """Build signed kits (PDF, offline HTML, JSON) into VAR_DIR/wardkits/<unit>/<stamp>/.

    Reads from --database-url: point it at the read copy when there is one."""
    n, patients, failures, seconds = _build_round(ctx, database_url, units, every_unit, workers, keep, show_bar=True)
    click.echo(_report(n, patients, failures, seconds))
    if failures:
        raise click.ClickException(f"{len(failures)} unit kits were not built; the previous kits of those units "
                                   "stay in place. Fix the cause above and run again")


def _start_listener(ctx: click.Context, database_url: str | None, listen_url: str | None, keep: int,
                    debounce: float, units: tuple[str, ...], workers: int) -> Callable[[], None]:
    """Run a ``listen.Rebuilder`` on a thread of its own; returns the function that stops it."""
    from obruten.wardkit.listen import Rebuilder  # reportlab: ~120 ms, see _build_round

    read_url = _database_url(ctx, database_url)
    rebuilder = Rebuilder(listen_url or read_url, read_url, clikit.config_from(ctx).var_dir, keep=keep,
                          debounce_s=debounce, only=frozenset(units) if units else None, workers=workers)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def main() -> None:
        loop.run_until_complete(rebuilder.run(stop))
        loop.close()

    thread = threading.Thread(target=main, name="wardkit-listener", daemon=True)
    thread.start()

    def halt() -> None:
        loop.call_soon_threadsafe(stop.set)
        thread.join(15)
    return halt


@wardkit.command("run")
@click.option("--every", "every_min", type=click.FloatRange(0.1, 1440), default=5.0, show_default=True,
              help="Minutes between full rounds (every unit).")
@click.option("--listen/--no-listen", default=True, show_default=True,
              help="Between rounds, rebuild a unit's kit within seconds of a write to it (LISTEN obruten_kit).")
@click.option("--listen-url", help="The primary to LISTEN on (a read copy cannot); default: --database-url.")
@click.option("--debounce", type=click.FloatRange(0, 60), default=1.0, show_default=True,
              help="Seconds to gather writes before a unit's kit is rebuilt.")
@click.option("--unit", "units", multiple=True, help="Care unit id (repeatable; default: every unit).")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Processes for a full round and for a batch of rebuilds (default: one per core).")
@click.option("--keep", type=click.IntRange(1, 1000), default=12, show_default=True, help="Kits kept per unit.")
@click.option("--rounds", type=click.IntRange(1), help="Stop after this many rounds (default: run until stopped).")
@DATABASE_URL
@click.pass_context
def run_cmd(ctx: click.Context, every_min: float, listen: bool, listen_url: str | None, debounce: float,
            units: tuple[str, ...], workers: int | None, keep: int, rounds: int | None, database_url: str | None) -> None:
    """Rebuild every kit every --every minutes, and a unit's kit within seconds of a write to it,
    until stopped."""
    cfg = clikit.config_from(ctx)
    halt = _start_listener(ctx, database_url, listen_url, keep, debounce, units,
                           workers or os.cpu_count() or 1) if listen else None
    try:
        # with the listener on, the full round runs at a lower CPU priority: a changed unit's rebuild
        # must not wait behind a thousand unchanged ones
        _rounds(ctx, cfg, every_min, units, workers, keep, rounds, database_url, 10 if listen else 0)
    finally:
        if halt:
            halt()


def _rounds(ctx: click.Context, cfg: Any, every_min: float, units: tuple[str, ...], workers: int | None,
            keep: int, rounds: int | None, database_url: str | None, nice: int) -> None:
    done = 0
    while rounds is None or done < rounds:
        started = time.monotonic()
        try:
            n, patients, failures, seconds = _build_round(ctx, database_url, units, not units, workers, keep,
                                                          show_bar=False, nice=nice)
            sentence = _report(n, patients, failures, seconds)
            if failures:
                events.emit(cfg.var_dir, "wardkit.build_failed", sentence, "wardkit", failed=len(failures))
        except click.ClickException as exc:
            sentence = f"round failed: {exc.message}; the agents keep their last good kits; retrying next round"
            events.emit(cfg.var_dir, "wardkit.build_failed", sentence, "wardkit")
        click.echo(f"{datetime.now(UTC).isoformat(timespec='seconds')} {sentence}", err=True)
        done += 1
        if rounds is not None and done >= rounds:
            break
        time.sleep(max(0.0, every_min * 60 - (time.monotonic() - started)))


@wardkit.command("verify")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option("--manifest", "manifest_path", type=click.Path(exists=True, path_type=Path),
              help="The kit's manifest.json (default: the one next to TARGET).")
@click.option("--trusted-keys", type=click.Path(path_type=Path),
              help="Trusted keys file (default: VAR_DIR/wardkits/trusted_keys).")
@click.pass_context
def verify_cmd(ctx: click.Context, target: Path, manifest_path: Path | None, trusted_keys: Path | None) -> None:
    """Check a kit file (PDF, HTML or JSON) or a whole kit directory offline.

    Exit status: 0 valid, 1 tampered, 2 untrusted key, 3 unknown file or no manifest."""
    from obruten.wardkit.build import kits_root  # reportlab: ~120 ms, see _build_round

    keys_file = trusted_keys or kits_root(clikit.config_from(ctx).var_dir) / "trusted_keys"
    try:
        trusted = TrustedKeys.load(keys_file)
    except SignatureError as exc:
        raise click.ClickException(f"{keys_file}: {exc}") from exc
    if len(trusted) == 0:
        click.echo(f"note: no trusted keys in {keys_file}; pass --trusted-keys", err=True)
    if target.is_dir():
        verdict = mf.check_kit(target, trusted)
    else:
        try:
            manifest = mf.load(manifest_path or target.parent / mf.MANIFEST)
        except mf.ManifestError as exc:
            verdict = mf.Verdict(mf.UNKNOWN, str(exc))
        else:
            verdict = mf.check_file(target, manifest, trusted)
    click.echo(f"{verdict.status.upper()}: {verdict.message}")
    sys.exit(mf.EXIT_CODES[verdict.status])


@wardkit.command("key")
@click.pass_context
def key_cmd(ctx: click.Context) -> None:
    """Print the kit signing key's line for a trusted keys file (creates the key the first time)."""
    from obruten.wardkit.build import signing_key  # reportlab: ~120 ms, see _build_round

    click.echo(signing_key(clikit.config_from(ctx).var_dir).trusted_line())


@wardkit.command("agent-token")
@click.option("--unit", required=True, help="Care unit id the agent serves.")
@click.pass_context
def agent_token_cmd(ctx: click.Context, unit: str) -> None:
    """Print the token a unit's ward agent fetches its kits with (keep it out of logs)."""
    try:
        safe_name(unit)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--unit") from exc
    click.echo(agent_token(clikit.config_from(ctx).var_dir, unit))
