"""Serves kits to ward agents: ``GET /api/v1/wardkits/{unit}/latest`` (the signed manifest) and
``GET /api/v1/wardkits/{unit}/{stamp}/{file}`` (kit.json, kit.pdf, kit.html, manifest.json).

Authenticated with the unit's agent token (``Authorization: Bearer <token>``, see ``tokens``).
Kits are read from ``var_dir/wardkits`` of the serving node: ``get_var_dir``, a dependency that
reads ``app.state.wardkit_var_dir`` (set by the app that includes this router, e.g. the journal's
``create_app``); no database is touched, so this keeps answering while the database is down. Each fetch is logged (unit, stamp, file), never
the content.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
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


@router.get("/{unit}/latest", summary="The newest kit's signed manifest")
def latest(unit: str, var_dir: VarDirDep, authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
    kit = _store(var_dir, unit, authorization).newest()
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
