"""The real ward-agent app for the downtime tests, holding a signed kit of the seeded region's ward."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import psycopg
from fastapi import FastAPI
from psycopg.rows import dict_row

import pgtools
from obruten.platform.signing import SigningKey, load_or_create_key
from obruten.postreg import verifier
from obruten.ward_agent.app import create_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.store import KitStore
from postreg_helpers import kit_data


def ward_pc(tmp_path: Path, region_url: str, unit: str, journal_url: str, token: str = "no-token-needed",
            with_kit: bool = True, name: str = "avd-pc-1", with_verifier: bool = True) -> FastAPI:
    """The ward agent (``obruten.ward_agent.app.create_app``) with one verified kit of ``unit`` and the
    unit's signed staff verifier already fetched (the seeded staff's password is ``demo``); no background
    loops (``fetch_every_s=0``), so tests submit with the page's button."""
    key = load_or_create_key(tmp_path / "kit-key.pem")
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(key.trusted_line() + "\n")
    settings = AgentSettings(var_dir=tmp_path / "ward-pc", unit=unit, journal_urls=(journal_url,), token=token,
                             trusted_keys=trusted, fetch_every_s=0, agent_name=name)
    if with_kit:
        build.write_kit(kit_data(region_url, unit), KitStore(settings.kits_dir), key)
    if with_verifier:
        write_verifier(region_url, unit, key, settings.state_dir / "staff_verifier.json")
    return create_app(settings)


def write_verifier(region_url: str, unit: str, key: SigningKey, path: Path) -> None:
    """The unit's staff verifier as the journal exports it (``postreg.downtime_identity``), signed with ``key``."""
    with psycopg.connect(region_url, row_factory=dict_row) as conn:
        staff = conn.execute(
            "SELECT s.username, s.full_name, s.role, s.password_hash FROM staff s JOIN staff_unit su ON su.staff_id = s.id"
            " WHERE su.unit_id = %s AND s.active AND s.password_hash IS NOT NULL AND s.role IN ('nurse', 'physician')"
            " ORDER BY s.username", (unit,)).fetchall()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(verifier.sign(unit, staff, key)))


def store_path(tmp_path: Path) -> Path:
    return tmp_path / "ward-pc" / "agent" / "downtime.sqlite3"


class Served(pgtools.Served):
    """An app served over real HTTP with its real lifespan, as a context manager yielding an httpx client."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def __enter__(self) -> httpx.Client:
        super().__init__(self._app, what="the agent app")
        self.client = httpx.Client(base_url=self.base, timeout=30)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.stop()
