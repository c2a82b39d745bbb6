"""A stand-in ward-agent app for the downtime tests: the downtime router, a fixed kit, real settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from obruten.ward_agent import downtime_web


@dataclass
class Kit:
    data: dict


class FixedKits:
    def __init__(self, data: dict | None) -> None:
        self.kit = Kit(data) if data is not None else None

    def newest(self) -> Kit | None:
        return self.kit


@dataclass
class Settings:
    var_dir: Path
    unit_id: str
    device_id: str = "agent-test"
    journal_url: str | None = None
    agent_token: str | None = None
    submit_interval: float = 0.0


def agent_app(settings: Settings, kit: dict | None) -> FastAPI:
    app = FastAPI()
    app.state.settings = settings
    app.state.kits = FixedKits(kit)
    app.include_router(downtime_web.router)
    return app


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
