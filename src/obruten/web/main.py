"""Entry point for the ASGI server: builds the app from the environment (used by worker processes)."""

from __future__ import annotations

import os

from fastapi import FastAPI

from obruten import config as config_mod
from obruten.web.app import create_app


def create_from_env() -> FastAPI:
    cfg = config_mod.load()
    url = os.environ.get("OBRUTEN_SERVE_DATABASE_URL") or cfg.database_url
    if not url:
        raise RuntimeError("no database URL: start with `obruten serve` (it sets OBRUTEN_SERVE_DATABASE_URL)")
    return create_app(cfg, url)
