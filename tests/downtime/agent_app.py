"""The real ward-agent app for the downtime tests, holding a signed kit of the seeded region's ward."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from postreg_helpers import kit_data

from obruten.signing import load_or_create_key
from obruten.ward_agent.app import create_app
from obruten.ward_agent.settings import AgentSettings
from obruten.wardkit import build
from obruten.wardkit.store import KitStore


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


class Served:
    """An app served by uvicorn on a free port in a background thread (real HTTP, real lifespan)."""

    def __init__(self, app: FastAPI) -> None:
        import threading

        import uvicorn

        from pgtools import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):  # type: ignore[no-untyped-def]
        import time

        import httpx

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the agent app did not start")
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.base, timeout=30)
        return self.client

    def __exit__(self, *exc: object) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)
