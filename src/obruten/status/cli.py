"""``obruten status …``: show the status message, issue one, manage signing keys."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from obruten.platform import clikit, events, http
from obruten.platform.signing import TrustedKeys, load_or_create_key
from obruten.status.banner import banner_view
from obruten.status.document import MODES, StatusDocument, StatusError, draft, next_version, parse, parse_duration
from obruten.status.follower import fetch
from obruten.status.ledger import Ledger, default_trusted_keys, status_dir

START_OR_OFFLINE = "Start it (obruten ops serve), or use --offline on a node whose key nodes trust."


def _http(method: str, url: str, body: dict[str, object] | None = None, token: str | None = None,
          what: str = "the status service", next_step: str = START_OR_OFFLINE) -> dict:
    try:
        with http.client(10, token=token) as client:
            response = client.request(method, url, json=body)
    except http.FAILURES as exc:
        raise click.ClickException(http.unreachable(what, url, exc, next_step)) from exc
    if not response.is_success:
        detail = response.text
        with contextlib.suppress(ValueError):
            detail = json.loads(detail).get("detail") or json.loads(detail).get("error") or detail
        raise click.ClickException(f"{url} answered {response.status_code}: {detail}")
    return json.loads(response.content or b"{}")


@click.group(cls=clikit.Group)
def status() -> None:
    """The operating mode and the signed status message (R15, R16)."""


def describe(doc: StatusDocument | None) -> str:
    view = banner_view(doc)
    if doc is None:
        return "no status message (normal operation)"
    lines = [f"version {doc.version}  mode {doc.mode}" + (f"  units: {', '.join(f'{u}={m}' for u, m in sorted(doc.unit_modes.items()))}" if doc.unit_modes else ""),
             f"headline: {doc.headline or '-'}", f"routine:  {doc.routine or '-'}"]
    if view is not None:
        lines.append(f"issued:   {view.issued} by {doc.issuer_name} ({doc.issuer_role})"
                     + (f"; next update by {view.next_update}" if view.next_update else ""))
    lines.append(f"signed by key {doc.key_id}")
    return "\n".join(lines)


@status.command("show")
@click.option("--url", help="Ask this node or status service (default: this node's own copy under var/).")
@click.option("--json", "as_json", is_flag=True, help="Print the signed document as JSON.")
@click.pass_context
def show(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Show the current status message."""
    if url:
        try:
            data = fetch(url, timeout=5)
        except http.failures(ValueError) as exc:
            raise click.ClickException(f"cannot read the status from {url}: {http.reason(exc)}") from exc
        doc = parse(data) if data else None
    else:
        doc = Ledger(clikit.config_from(ctx).var_dir).current()
    click.echo(json.dumps(doc.as_dict() if doc else None, ensure_ascii=False, indent=1) if as_json else describe(doc))


@status.command("set")
@click.option("--mode", type=click.Choice(MODES), required=True, help="The mode (for --unit, else the region).")
@click.option("--unit", "units", multiple=True, help="Care unit the mode applies to (repeatable); default: region.")
@click.option("--clear-units", is_flag=True, help="Drop every per-unit override first.")
@click.option("--headline", default="", help="What is wrong, in one line.")
@click.option("--details", default="", help="More information for staff.")
@click.option("--routine", default="", help="Which routine applies (required for reservrutin).")
@click.option("--system", "systems", multiple=True, help="Affected system (repeatable).")
@click.option("--next-update", default="30m", show_default=True, help="When the next update is due: 30m, 2h …")
@click.option("--reason", required=True, help="Why the status changes (recorded with your name).")
@click.option("--ops-url", default="http://127.0.0.1:8010", show_default=True, help="The status (ops) service.")
@click.option("--user", help="Your ops login (TIB or systemförvaltare).")
@click.option("--password", envvar="OBRUTEN_OPS_PASSWORD", help="Or set OBRUTEN_OPS_PASSWORD; asked if missing.")
@click.option("--offline", is_flag=True, help="Status service unreachable: sign with this node's key and push.")
@click.option("--push", "push_urls", multiple=True, help="With --offline: nodes to push to (repeatable).")
@click.option("--issuer", default="", help="With --offline: your name and role, e.g. 'Tove Beredskap, TIB'.")
@click.pass_context
def set_status(ctx: click.Context, mode: str, units: tuple[str, ...], clear_units: bool, headline: str,
               details: str, routine: str, systems: tuple[str, ...], next_update: str, reason: str, ops_url: str,
               user: str | None, password: str | None, offline: bool, push_urls: tuple[str, ...],
               issuer: str) -> None:
    """Issue a new status message (and change the operating mode)."""
    try:
        due = parse_duration(next_update)
    except StatusError as exc:
        raise click.BadParameter(str(exc), param_hint="--next-update") from exc
    base = None if offline else _current_from(ops_url)
    if offline:
        base = Ledger(clikit.config_from(ctx).var_dir).current()
    unit_modes = {} if clear_units or base is None else dict(base.unit_modes)
    region = (base.mode if base else "normal") if units else mode
    for unit in units:
        unit_modes[unit] = mode
    affected_units = sorted(set(units) | (set() if clear_units or base is None else set(base.affected_units)))
    fields: dict[str, Any] = {"mode": region, "headline": headline, "routine": routine, "details": details, "unit_modes": unit_modes,
              "affected_systems": list(systems), "affected_units": affected_units, "reason": reason}
    if offline:
        _offline(ctx, fields, due, push_urls, issuer)
        return
    if not user:
        raise click.UsageError("give --user (your ops login), or --offline if the status service is down")
    password = password or click.prompt("ops password", hide_input=True)
    token = _http("POST", ops_url.rstrip("/") + "/api/v1/session", {"username": user, "password": password})["token"]
    answer = _http("POST", ops_url.rstrip("/") + "/api/v1/status/issue", {**fields, "next_update": next_update},
                   token)
    for sentence in answer.get("said", []):
        click.echo(sentence, err=True)
    click.echo(describe(parse(answer["document"])))


@status.command("normal")
@click.option("--reason", default="Avbrottet är över: normal drift", show_default=True,
              help="Why (recorded with your name).")
@click.option("--ops-url", default="http://127.0.0.1:8010", show_default=True, help="The status (ops) service.")
@click.option("--user", required=True, help="Your ops login (TIB or systemförvaltare).")
@click.option("--password", envvar="OBRUTEN_OPS_PASSWORD", help="Or set OBRUTEN_OPS_PASSWORD; asked if missing.")
def normal(reason: str, ops_url: str, user: str, password: str | None) -> None:
    """Return to normal operation in one action: every unit's mode, the routine and the text cleared."""
    password = password or click.prompt("ops password", hide_input=True)
    token = _http("POST", ops_url.rstrip("/") + "/api/v1/session", {"username": user, "password": password})["token"]
    answer = _http("POST", ops_url.rstrip("/") + "/api/v1/status/normal", {"reason": reason}, token)
    for sentence in answer.get("said", []):
        click.echo(sentence, err=True)
    click.echo(describe(parse(answer["document"])))


def _current_from(ops_url: str) -> StatusDocument | None:
    try:
        data = fetch(ops_url, timeout=5)
    except http.failures(ValueError) as exc:
        raise click.ClickException(http.unreachable("the status service", ops_url, exc, START_OR_OFFLINE)) from exc
    return parse(data) if data else None


def _offline(ctx: click.Context, fields: dict[str, Any], due: timedelta, push_urls: tuple[str, ...],
             issuer: str) -> None:
    cfg = clikit.config_from(ctx)
    if not issuer:
        raise click.UsageError("--offline needs --issuer 'Name, role' (it is shown on every banner)")
    name, _, role = issuer.partition(",")
    ledger = Ledger(cfg.var_dir, cfg.status_trusted_keys)
    key = load_or_create_key(status_dir(cfg.var_dir) / "signing_key.pem")
    if key.key_id not in ledger.trusted():
        raise click.ClickException(f"this node's key {key.key_id} is not in {ledger.keys_path}; add it there and "
                                   f"on every node first: {key.trusted_line()}")
    reason = str(fields.pop("reason"))
    now = datetime.now(UTC)
    doc = draft(version=next_version(ledger.current(), now), issuer_name=name.strip(),
                issuer_role=role.strip() or "-", next_update_in=due, now=now, **fields).signed(key)
    ledger.offer(doc)
    events.emit(cfg.var_dir, "status.issued", f"Statusmeddelande v{doc.version} ({doc.mode}) utfärdat offline: "
                f"{doc.headline}", f"status:{cfg.node_name}", version=doc.version, mode=doc.mode, reason=reason)
    click.echo(describe(doc))
    for url in push_urls:
        target = url.rstrip("/") + ("" if url.rstrip("/").endswith("/api/v1/status") else "/api/v1/status")
        try:
            _http("POST", target, {"document": doc.as_dict()}, what="the node", next_step="")
            click.echo(f"pushed to {target}", err=True)
        except click.ClickException as exc:
            click.echo(f"not pushed to {target}: {exc.message}; it will not see this version until it is "
                       "pushed again or polls a node that has it", err=True)


@status.command("key")
@click.option("--ops", "ops_key", is_flag=True, help="The ops service's key (the one that normally signs).")
@click.pass_context
def key(ctx: click.Context, ops_key: bool) -> None:
    """Print the trusted-keys line of this node's (or the ops service's) signing key; created if missing."""
    cfg = clikit.config_from(ctx)
    path = cfg.var_dir / "ops" / "status_signing_key.pem" if ops_key else status_dir(cfg.var_dir) / "signing_key.pem"
    click.echo(load_or_create_key(path).trusted_line())


@status.command("trust")
@click.argument("line")
@click.pass_context
def trust(ctx: click.Context, line: str) -> None:
    """Add a '<key id> <public key>' line to this node's trusted keys (takes effect without restart)."""
    cfg = clikit.config_from(ctx)
    path: Path = cfg.status_trusted_keys or default_trusted_keys(cfg.var_dir)
    TrustedKeys.parse(line)
    existing = path.read_text() if path.exists() else ""
    if line.strip() in existing.splitlines():
        click.echo(f"already trusted in {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(line.strip() + "\n")
    click.echo(f"trusted {line.split()[0]} in {path}")


def wire_demo(var_dir: Path, ops_url: str) -> None:
    """For ``obruten demo``: the journal trusts the ops service's status key and follows it."""
    line = load_or_create_key(var_dir / "ops" / "status_signing_key.pem").trusted_line()
    path = default_trusted_keys(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or line not in path.read_text().splitlines():
        with path.open("a") as fh:
            fh.write(line + "\n")
    os.environ.setdefault("OBRUTEN_STATUS_URLS", ops_url)  # read by the journal's worker processes
