"""The real ward-agent app for the downtime tests, holding a signed kit of the seeded region's ward."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

import pgtools
from obruten.platform.signing import load_or_create_key
from obruten.ward_agent.app import create_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.store import KitStore
from postreg_helpers import kit_data


def ward_pc(tmp_path: Path, region_url: str, unit: str, journal_url: str, token: str = "no-token-needed",
            with_kit: bool = True, name: str = "avd-pc-1") -> FastAPI:
    """The ward agent (``obruten.ward_agent.app.create_app``) with one verified kit of ``unit`` already
    fetched; no background loops (``fetch_every_s=0``), so tests submit with the page's button."""
    key = load_or_create_key(tmp_path / "kit-key.pem")
    trusted = tmp_path / "trusted_keys"
    trusted.write_text(key.trusted_line() + "\n")
    settings = AgentSettings(var_dir=tmp_path / "ward-pc", unit=unit, journal_urls=(journal_url,), token=token,
                             trusted_keys=trusted, fetch_every_s=0, agent_name=name)
    if with_kit:
        build.write_kit(kit_data(region_url, unit), KitStore(settings.kits_dir), key)
    return create_app(settings)


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
