"""The ward agent's downtime pages: record notes and administrations locally, see the queue.

Works with no network and no JavaScript: patients and orders come from the newest ward kit on this
computer (``app.state.kits.newest().data``), entries go into the local ``DowntimeStore`` and a
background thread submits them when the journal answers. Forms are protected with a double-submit
CSRF cookie. Who documents is identified on every entry with their own journal username and
password, checked offline against the unit's signed staff verifier (``identity``); nothing about
who documented is remembered after the entry is saved (ADR 0049). The same loop asks whether the
journal is up (``journal_watch``): the pages say so, and when it is back they send staff to it.
Patients who arrive during downtime are registered with a reservnummer from the block the
journal handed this agent (``postreg.reserve``) and documented on like any other.

Mounted by ``obruten.ward_agent.app.create_app``; pages are rendered with ``ward_agent.render`` and
extend ``agent_base.html``. Configured by ``app.state.downtime`` (a ``DowntimeAgent``) if the app
sets one, else from the agent's ``AgentSettings`` (``app.state.settings``): entries are kept in
``state_dir/downtime.sqlite3`` and submitted to the first journal URL (never the read copy) with
the unit's agent token; the agent's name is the device id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from obruten.platform.auth import same_secret
from obruten.platform.errors import Invalid
from obruten.platform.i18n import STOCKHOLM, translator
from obruten.platform.signing import TrustedKeys
from obruten.postreg.models import NOTE_KINDS
from obruten.ward_agent.agent import Agent
from obruten.ward_agent.downtime_store import DowntimeStore
from obruten.ward_agent.downtime_submit import Submitter
from obruten.ward_agent.identity import Author, Identifier, NotIdentified
from obruten.ward_agent.journal_watch import JournalWatch
from obruten.ward_agent.metrics import AgentMetrics
from obruten.ward_agent.render import language, render
from obruten.ward_agent.settings import AgentSettings

CSRF_COOKIE = "downtime_csrf"
_FUTURE_SLACK = timedelta(minutes=5)
log = logging.getLogger("obruten.ward_agent.downtime")


@dataclass(frozen=True)
class DowntimeSettings:
    store_path: Path
    unit_id: str
    device_id: str
    journal_url: str | None = None
    token: str | None = None
    submit_interval: float = 15.0  # 0: submit only when staff press the button
    verifier_path: Path | None = None  # default: next to the store
    trusted: Callable[[], TrustedKeys] = TrustedKeys  # the keys the staff verifier must be signed with

    @classmethod
    def from_agent(cls, settings: AgentSettings, trusted: Callable[[], TrustedKeys] | None = None) -> DowntimeSettings:
        return cls(store_path=settings.state_dir / "downtime.sqlite3", unit_id=settings.unit,
                   device_id=settings.agent_name, journal_url=settings.journal_url, token=settings.token,
                   submit_interval=15.0 if settings.fetch_every_s > 0 else 0.0,
                   verifier_path=settings.state_dir / "staff_verifier.json",
                   trusted=trusted or (lambda: TrustedKeys.load(settings.trusted_keys_file)))


@dataclass
class DowntimeAgent:
    """The store, the submitter and the background loop that drives it."""

    settings: DowntimeSettings
    metrics: AgentMetrics | None = None  # the agent's /metrics
    store: DowntimeStore = field(init=False)
    submitter: Submitter | None = field(init=False, default=None)
    identifier: Identifier = field(init=False)
    watch: JournalWatch = field(init=False)
    last_sentence: str = ""
    last_outcome: str = "none"
    last_attempt: datetime | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.store = DowntimeStore(s.store_path, s.unit_id, s.device_id)
        if s.journal_url and s.token:
            self.submitter = Submitter(self.store, s.journal_url, s.token, timeout=5)
        self.identifier = Identifier(s.verifier_path or s.store_path.parent / "staff_verifier.json", s.unit_id,
                                     s.trusted)
        self.watch = JournalWatch(s.journal_url)

    def sync(self) -> str:
        """One round: is the journal up; if so refresh the staff verifier and the reservnummer block,
        register reservnummer patients and submit what is queued. Returns what happened."""
        said = [f"journal {self.watch.probe()}"]
        if self.watch.up and self.submitter is not None:
            document = self.submitter.fetch_verifier()
            said.append(self.identifier.offer(document) if document is not None else "no staff verifier fetched")
            said.append(self.submitter.ensure_reserve_numbers())
        said.append(self.submit_now())
        return "; ".join(said)

    def submit_now(self) -> str:
        if self.submitter is None:
            return "submission is not configured (journal_url and agent_token)"
        with self._lock:  # one drain at a time: the button and the loop never send the same batch twice at once
            said = self.submitter.drain()
        self.last_attempt = datetime.now(UTC)
        self.last_sentence = "; ".join(s for s in said if s != "nothing queued") or "nothing queued"
        self.last_outcome = self.submitter.outcome
        self.publish()
        if self.last_outcome != "nothing":
            log.info("downtime submission: %s", self.last_sentence)
        return self.last_sentence

    def publish(self) -> None:
        """Queue sizes on the agent's /metrics: entries not yet in the journal are at risk."""
        if self.metrics is None:
            return
        entries = self.metrics.downtime_entries
        entries.clear()
        for state, n in self.store.counts().items():
            entries.labels(state=state, unit=self.settings.unit_id).set(n)

    def start(self) -> None:
        if self.submitter is None or self.settings.submit_interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="downtime-submitter", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.submit_interval):
            try:
                self.sync()
            except Exception as exc:  # keep looping; the page shows what went wrong
                log.exception("downtime submission failed; retrying in %s s", self.settings.submit_interval)
                self.last_sentence = f"submission failed: {type(exc).__name__}: {exc}"
                self.last_outcome = "error"

    def close(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self.submitter:
            self.submitter.close()
        self.store.close()


def _kit_keys(kits_agent: Agent) -> Callable[[], TrustedKeys]:
    """The kits' trusted keys, re-read when the file changed (key rotation needs no restart): the
    staff verifier is signed by the same kit builder."""
    def trusted() -> TrustedKeys:
        kits_agent.reload_trusted()
        return kits_agent.trusted
    return trusted


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    agent = getattr(app.state, "downtime", None)
    owned = agent is None and getattr(app.state, "settings", None) is not None
    if owned:
        kits_agent = getattr(app.state, "agent", None)
        trusted_keys = _kit_keys(kits_agent) if kits_agent is not None else None
        agent = app.state.downtime = DowntimeAgent(DowntimeSettings.from_agent(app.state.settings, trusted_keys),
                                                   metrics=getattr(kits_agent, "metrics", None))
        agent.publish()
    if agent is not None:
        if agent.settings.submit_interval > 0:  # first look at once, not a period later
            await asyncio.to_thread(agent.watch.probe)
        agent.start()
    try:
        yield
    finally:
        if owned and agent is not None:
            agent.close()


router = APIRouter(include_in_schema=False, lifespan=_lifespan)


def _agent(request: Request) -> DowntimeAgent:
    agent = getattr(request.app.state, "downtime", None)
    if agent is None:
        raise RuntimeError("the downtime pages are not configured: set app.state.downtime or app.state.settings")
    return agent


def _kit(request: Request) -> dict | None:
    kits = getattr(request.app.state, "kits", None)
    newest = kits.newest() if kits is not None else None
    return newest.data if newest is not None else None


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(16)
    agent = _agent(request)
    response = render(request, template, status_code, csrf=token, kit=_kit(request), downtime=agent,
                      counts=agent.store.counts(), now_local=datetime.now(STOCKHOLM).strftime("%Y-%m-%dT%H:%M"),
                      watch=agent.watch, journal_link=agent.settings.journal_url, **context)
    response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    # who documented is never remembered on a shared PC (ADR 0049); clear what older agents kept
    response.delete_cookie("downtime_author")
    return response


async def _author(request: Request, data: dict[str, str]) -> Author:
    """The verified author of this one entry (username and password from the form, then forgotten)."""
    return await asyncio.to_thread(_agent(request).identifier.identify, data.get("author", ""),
                                   data.pop("password", ""))


def _not_identified(request: Request, exc: NotIdentified) -> str:
    return translator(language(request))(f"downtime.identify.{exc.reason}", **exc.values)


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    token = data.pop("csrf", "")
    if not same_secret(token, request.cookies.get(CSRF_COOKIE, "")):
        raise HTTPException(403, "the form has expired or did not come from this page; reload the page and try again")
    return data


def _patient(kit: dict | None, patient_id: int) -> dict:
    for p in (kit or {}).get("patients", []):
        if p["id"] == patient_id:
            return p
    raise Invalid(f"patient {patient_id} is not in this ward's downtime kit")


def _clinical_at(text: str) -> datetime:
    """The form's local time (Europe/Stockholm) as an aware datetime; not in the future."""
    try:
        at = datetime.fromisoformat(text.strip()).replace(tzinfo=STOCKHOLM)
    except ValueError as exc:
        raise Invalid("give the time as YYYY-MM-DD HH:MM") from exc
    if at > datetime.now(UTC) + _FUTURE_SLACK:
        raise Invalid("the time is in the future; give when it happened")
    return at


@router.get("/downtime", response_class=HTMLResponse)
async def overview(request: Request) -> Response:
    store = _agent(request).store
    return _render(request, "downtime_patients.html", reserve=store.reserve_patients(),
                   free=len(store.free_reserve_numbers()))


@router.get("/downtime/patients/{patient_id}", response_class=HTMLResponse)
async def patient_page(patient_id: int, request: Request) -> Response:
    return _patient_response(request, patient_id, saved=request.query_params.get("saved", ""))


def _patient_response(request: Request, patient_id: int, status_code: int = 200, **context: Any) -> Response:
    try:
        patient = _patient(_kit(request), patient_id)
    except Invalid as exc:
        raise HTTPException(404, exc.message) from exc
    recorded = [e for e in _agent(request).store.listing(2000) if e["patient_id"] == patient_id
                and not e.get("reserve_number")]
    return _render(request, "downtime_patient.html", status_code, p=patient, recorded=recorded, note_kinds=NOTE_KINDS,
                   signed_by=_signed_by(request, str(context.get("saved", "")), recorded), **context)


@router.post("/downtime/patients/{patient_id}/administrations")
async def record_administration(patient_id: int, request: Request) -> Response:
    data = await _form(request)
    try:
        patient = _patient(_kit(request), patient_id)
        author = await _author(request, data)
        order = next((m for m in patient.get("medications", []) if m["entry_id"] == data.get("order_entry")), None)
        if order is None:
            raise Invalid("choose one of the patient's orders")
        outcome = data.get("outcome", "given")
        administration = {"outcome": outcome, "dose_given": data.get("dose_given", "") if outcome == "given" else "",
                          "not_given_reason": data.get("not_given_reason") or None}
        fields = {"kind": "medication_administration", "patient_id": patient_id, "author": author.username,
                  "clinical_at": _clinical_at(data.get("clinical_at", "")), "order_entry": order["entry_id"],
                  "administration": administration}
        entry = await asyncio.to_thread(_agent(request).store.record, fields, _label(patient),
                                f"{order['drug']} {order['strength']}")
        _agent(request).publish()
    except NotIdentified as exc:
        return _patient_response(request, patient_id, 422, error=_not_identified(request, exc), form=_forget(data))
    except Invalid as exc:
        return _patient_response(request, patient_id, 422, error=exc.message, form=_forget(data))
    return _saved(f"/downtime/patients/{patient_id}", str(entry.key))


def _forget(data: dict[str, str]) -> dict[str, str]:
    """The form shown again after an error: what was documented, never who (nor the password)."""
    return {k: v for k, v in data.items() if k not in ("author", "password")}


@router.post("/downtime/patients/{patient_id}/notes")
async def record_note(patient_id: int, request: Request) -> Response:
    data = await _form(request)
    try:
        patient = _patient(_kit(request), patient_id)
        author = await _author(request, data)
        fields = {"kind": "note", "patient_id": patient_id, "author": author.username,
                  "clinical_at": _clinical_at(data.get("clinical_at", "")),
                  "note": {"kind": data.get("note_kind", ""), "title": data.get("title", ""),
                           "body": data.get("body", "")}}
        entry = await asyncio.to_thread(_agent(request).store.record, fields, _label(patient), data.get("note_kind", ""))
        _agent(request).publish()
    except NotIdentified as exc:
        return _patient_response(request, patient_id, 422, error=_not_identified(request, exc), form=_forget(data))
    except Invalid as exc:
        return _patient_response(request, patient_id, 422, error=exc.message, form=_forget(data))
    return _saved(f"/downtime/patients/{patient_id}", str(entry.key))


def _label(patient: dict) -> str:
    return f"{patient['family_name']}, {patient['given_name']} ({patient['personal_number']})"


def _saved(page: str, ref: str) -> Response:
    """Back to the patient, saying what was saved (an entry key, or ``registered``) and who signed it;
    nothing about the person is kept for the next one (the name is looked up from the store)."""
    return RedirectResponse(f"{page}?saved={quote(ref)}", status_code=303)


def _signed_by(request: Request, saved: str, recorded: list[dict], registered_by: str | None = None) -> str:
    """The full name of who signed what was just saved (empty when unknown)."""
    username = registered_by if saved == "registered" else next(
        (e["author"] for e in recorded if e["key"] == saved), None)
    return _agent(request).identifier.full_name(username) if username else ""


@router.get("/downtime/queue", response_class=HTMLResponse)
async def queue_page(request: Request) -> Response:
    return _render(request, "downtime_queue.html", entries=_agent(request).store.listing(2000))


@router.post("/downtime/submit")
async def submit(request: Request) -> Response:
    await _form(request)
    await asyncio.to_thread(_agent(request).sync)
    return RedirectResponse("/downtime/queue", status_code=303)


# ---- patients who arrive during downtime: reservnummer ------------------------------------------------
def _reserve_as_patient(r: dict) -> dict:
    return {"id": r["local_id"], "family_name": r["family_name"], "given_name": r["given_name"],
            "personal_number": r["reserve_number"], "warnings": [], "medications": [], "reserve": True,
            "journal_patient_id": r["journal_patient_id"]}


@router.get("/downtime/reserve/new", response_class=HTMLResponse)
async def reserve_form(request: Request) -> Response:
    return _render(request, "downtime_reserve.html", free=len(_agent(request).store.free_reserve_numbers()))


@router.post("/downtime/reserve")
async def reserve_register(request: Request) -> Response:
    data = await _form(request)
    agent = _agent(request)
    try:
        author = await _author(request, data)
        birth = data.get("birth_date", "").strip() or "1900-01-01"
        try:
            date.fromisoformat(birth)
        except ValueError as exc:
            raise Invalid("give the birth date as YYYY-MM-DD, or leave it empty") from exc
        sex = data.get("sex", "X")
        if sex not in ("F", "M", "X"):
            raise Invalid("choose the patient's sex")
        names = [data.get(k, "").strip() or "Okänd" for k in ("given_name", "family_name")]
        if any(len(n) > 100 for n in names):
            raise Invalid("names are at most 100 characters")
        patient = await asyncio.to_thread(agent.store.register_reserve_patient, names[0], names[1], sex, birth,
                                          author.username)
    except NotIdentified as exc:
        return _render(request, "downtime_reserve.html", 422, free=len(agent.store.free_reserve_numbers()),
                       error=_not_identified(request, exc), form=_forget(data))
    except Invalid as exc:
        return _render(request, "downtime_reserve.html", 422, free=len(agent.store.free_reserve_numbers()),
                       error=exc.message, form=_forget(data))
    return _saved(f"/downtime/reserve/{patient['local_id']}", "registered")


@router.get("/downtime/reserve/{local_id}", response_class=HTMLResponse)
async def reserve_page(local_id: int, request: Request) -> Response:
    return _reserve_response(request, local_id, saved=request.query_params.get("saved", ""))


def _reserve_response(request: Request, local_id: int, status_code: int = 200, **context: Any) -> Response:
    try:
        r = _agent(request).store.reserve_patient(local_id)
    except Invalid as exc:
        raise HTTPException(404, exc.message) from exc
    recorded = [e for e in _agent(request).store.listing(2000) if e.get("reserve_number") == r["reserve_number"]]
    return _render(request, "downtime_patient.html", status_code, p=_reserve_as_patient(r), recorded=recorded,
                   note_kinds=NOTE_KINDS, signed_by=_signed_by(request, str(context.get("saved", "")), recorded,
                                                               r["registered_by"]), **context)


@router.post("/downtime/reserve/{local_id}/notes")
async def reserve_note(local_id: int, request: Request) -> Response:
    data = await _form(request)
    agent = _agent(request)
    try:
        r = agent.store.reserve_patient(local_id)
        author = await _author(request, data)
        fields = {"kind": "note", "patient_id": 1,  # placeholder until the journal has created the patient
                  "author": author.username, "clinical_at": _clinical_at(data.get("clinical_at", "")),
                  "note": {"kind": data.get("note_kind", ""), "title": data.get("title", ""),
                           "body": data.get("body", "")}}
        label = f"{r['family_name']}, {r['given_name']} ({r['reserve_number']})"
        entry = await asyncio.to_thread(agent.store.record, fields, label, data.get("note_kind", ""),
                                        r["reserve_number"])
        agent.publish()
    except NotIdentified as exc:
        return _reserve_response(request, local_id, 422, error=_not_identified(request, exc), form=_forget(data))
    except Invalid as exc:
        return _reserve_response(request, local_id, 422, error=exc.message, form=_forget(data))
    return _saved(f"/downtime/reserve/{local_id}", str(entry.key))

