"""Serves kits to ward agents: ``GET /api/v1/wardkits/{unit}/latest`` (the signed manifest;
``?after=<stamp>&wait=<s>`` waits for a newer kit, so agents hear of a rebuild at once) and
``GET /api/v1/wardkits/{unit}/{stamp}/{file}`` (kit.json, kit.pdf, kit.html, manifest.json).

Authenticated with the unit's agent token (``Authorization: Bearer <token>``, see ``tokens``).
Kits are read from ``var_dir/wardkits`` of the serving node: ``get_var_dir``, a dependency that
reads ``app.state.wardkit_var_dir`` (set by the app that includes this router, e.g. the journal's
``create_app``); no database is touched, so this keeps answering while the database is down. Each fetch is logged (unit, stamp, file), never
the content.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from obruten.wardkit import manifest as mf
from obruten.wardkit.build import kits_root
from obruten.wardkit.store import KitStore, safe_name
from obruten.wardkit.tokens import token_ok

router = APIRouter(prefix="/api/v1/wardkits", tags=["ward kits"])
log = logging.getLogger("obruten.wardkit.web")
_MEDIA = {"kit.json": "application/json", "kit.pdf": "application/pdf", "kit.html": "text/html; charset=utf-8",
          mf.MANIFEST: "application/json"}


def get_var_dir(request: Request) -> Path:
    """The serving node's var directory (its ``wardkits/`` holds the kits)."""
    return Path(request.app.state.wardkit_var_dir)


VarDirDep = Annotated[Path, Depends(get_var_dir)]


def _store(var_dir: Path, unit: str, authorization: str | None) -> KitStore:
    try:
        safe_name(unit)
    except ValueError as exc:
        raise HTTPException(404, str(exc)) from exc
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not token_ok(var_dir, unit, given):
        raise HTTPException(401, f"send this unit's agent token (obruten wardkit agent-token --unit {unit})")
    return KitStore(kits_root(var_dir) / unit)


MAX_WAIT_S = 30.0
POLL_S = 0.25


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1


@router.get("/{unit}/latest", summary="The newest kit's signed manifest (long-poll with after= and wait=)")
async def latest(unit: str, var_dir: VarDirDep, authorization: Annotated[str | None, Header()] = None,
                 after: Annotated[str | None, Query(max_length=80, description="the stamp the agent holds")] = None,
                 wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description="seconds to wait for a kit "
                                                                             "newer than `after`")] = 0) -> JSONResponse:
    """The newest kit's manifest. With ``after`` (the stamp an agent holds) and ``wait``, the answer
    waits until a kit other than ``after`` is the newest, or ``wait`` seconds have passed (then the
    same manifest again): an agent hears of a rebuilt kit at once instead of at its next poll. The
    folder's change time is looked at every quarter second; no database is touched."""
    store = _store(var_dir, unit, authorization)
    kit = await asyncio.to_thread(store.newest)
    if after and wait > 0 and (kit is None or kit.stamp == after):
        deadline = time.monotonic() + wait
        seen = _mtime(store.root)
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            now = _mtime(store.root)
            if now != seen:
                seen = now
                kit = await asyncio.to_thread(store.newest)
                if kit is not None and kit.stamp != after:
                    break
    if kit is None:
        raise HTTPException(404, f"no kit built yet for {unit}; is `obruten wardkit run` running?")
    log.info("wardkit manifest unit=%s stamp=%s", unit, kit.stamp)
    return JSONResponse(kit.manifest)


@router.get("/{unit}/{stamp}/{name}", summary="One file of a kit")
def kit_file(unit: str, stamp: str, name: str, var_dir: VarDirDep,
             authorization: Annotated[str | None, Header()] = None) -> FileResponse:
    store = _store(var_dir, unit, authorization)
    if name not in _MEDIA:
        raise HTTPException(404, f"a kit has only {', '.join(_MEDIA)}")
    kit = store.get(stamp)
    if kit is None:
        raise HTTPException(404, f"kit {stamp} of {unit} is gone (only the newest are kept); fetch /latest again")
    log.info("wardkit file unit=%s stamp=%s file=%s", unit, stamp, name)
    return FileResponse(kit.path / name, media_type=_MEDIA[name])
