"""The status service: issues the signed status message. It lives in the ops service (ADR 0023)
and keeps its record in the ops store (SQLite), so it works with the journal database down.

Who may issue: the officer on duty (console role ``tib``) or whoever holds the on-call function
``tib`` or ``sysf`` (systemförvaltare) at the time. Every message is a new version, recorded
append-only with who, when and why; it is emitted as system events (``status.issued``, and
``mode.changed`` when a mode changed) for the incident timeline, and queued in the ops outbox for
each push target (nodes' ``/api/v1/status``), webhook and e-mail recipient (delivered, recorded
and retried by ``obruten.ops.notifications``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from obruten.ops import oncall as schedule
from obruten.ops.clock import iso
from obruten.ops.settings import StatusSettings
from obruten.ops.store import Store
from obruten.platform import events
from obruten.platform.auth import Session
from obruten.platform.i18n import local_time, translator
from obruten.platform.signing import SigningKey, load_or_create_key
from obruten.status.document import StatusDocument, StatusError, draft, next_version, parse

SOURCE = "status"
ISSUER_CONSOLE_ROLES = ("tib",)
ISSUER_ONCALL_ROLES = ("tib", "sysf")

# the status_message table is migration 0003 of the ops store (obruten.ops.schema)



class NotAllowed(StatusError):
    """The user may not change the operating mode."""




def current(store: Store) -> StatusDocument | None:
    row = store.one("SELECT document FROM status_message ORDER BY version DESC LIMIT 1")
    return parse(json.loads(row["document"])) if row else None


def history(store: Store, limit: int = 50) -> list[dict[str, object]]:
    rows = store.all("SELECT version, mode, unit_modes, issued_by, issuer_role, reason, at FROM status_message "
                     "ORDER BY version DESC LIMIT ?", (limit,))
    return [{**dict(r), "unit_modes": json.loads(r["unit_modes"])} for r in rows]


def deliveries(store: Store, limit: int = 50) -> list[dict[str, object]]:
    """The outbox rows of status messages (channel, address, state, attempts, last error)."""
    rows = store.all("SELECT id, channel, address, state, attempts, last_error, created_at, sent_at, subject "
                     "FROM notification WHERE alarm_id IS NULL AND role = 'status' ORDER BY id DESC LIMIT ?",
                     (limit,))
    return [dict(r) for r in rows]


class StatusIssuer:
    def __init__(self, store: Store, var_dir: Path, settings: StatusSettings, key: SigningKey | None = None) -> None:
        self.store = store
        self.var_dir = var_dir
        self.settings = settings
        self.key = key or load_or_create_key(settings.key_file)
        store.make_append_only("status_message", "status messages are append-only: issue a new version")

    def role_of(self, session: Session, now: datetime) -> str:
        """The title under which ``session`` may issue; raises ``NotAllowed``."""
        held = [role for role in ISSUER_ONCALL_ROLES
                if any(h.user_id == session.user_id for h in schedule.holders(self.store, role, now))]
        if held:
            return schedule.ROLES[held[0]]
        if session.role in ISSUER_CONSOLE_ROLES:
            return schedule.ROLES["tib"]
        raise NotAllowed(f"{session.username} may not change the operating mode: only the officer on duty (TIB) "
                         "or the system administrator on duty (systemförvaltare) may; ask them, or have the "
                         "on-call schedule updated")

    def issue(self, session: Session, *, mode: str, headline: str, routine: str, reason: str, now: datetime,
              details: str = "", unit_modes: dict[str, str] | None = None, systems: list[str] | None = None,
              units: list[str] | None = None, next_update_in: timedelta | None = None) -> tuple[StatusDocument,
                                                                                                  list[str]]:
        """Sign and record a new version; returns it and what was done (sentences)."""
        role = self.role_of(session, now)
        if len(reason.strip()) < 3:
            raise StatusError("say why the status changes (reason); it is recorded with your name")
        previous = current(self.store)
        version = next_version(previous, now)
        doc = draft(version=version, mode=mode, headline=headline, routine=routine, issuer_name=session.full_name,
                    issuer_role=role, next_update_in=next_update_in, details=details, unit_modes=unit_modes,
                    affected_systems=systems or [], affected_units=units or [], now=now,
                    banner_for=self.normal_banner).signed(self.key)
        body = json.dumps(doc.as_dict(), ensure_ascii=False, sort_keys=True)
        queued = self._outbox(doc)
        with self.store.tx() as db:
            db.execute("INSERT INTO status_message (version, document, mode, unit_modes, issued_by, issuer_role, "
                       "reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (doc.version, body, doc.mode, json.dumps(doc.unit_modes), session.username, role,
                        reason.strip(), iso(now)))
            for channel, address, subject, text in queued:
                db.execute("INSERT INTO notification (alarm_id, role, channel, address, subject, body, payload, "
                           "created_at, next_try_at) VALUES (NULL, 'status', ?, ?, ?, ?, ?, ?, ?)",
                           (channel, address, subject, text, json.dumps({"document": doc.as_dict()},
                                                                        ensure_ascii=False), iso(now), iso(now)))
        said = [f"issued status version {doc.version} ({doc.mode}) by {session.username}; "
                f"{len(queued)} deliveries queued"]
        events.emit(self.var_dir, "status.issued", f"Statusmeddelande v{doc.version} ({doc.mode}): {doc.headline}",
                    SOURCE, version=doc.version, mode=doc.mode, by=session.username, reason=reason.strip())
        changed = _mode_changes(previous, doc)
        if changed:
            events.emit(self.var_dir, "mode.changed", f"Driftläge ändrat: {changed}", SOURCE, version=doc.version,
                        mode=doc.mode, unit_modes=doc.unit_modes, by=session.username, reason=reason.strip())
            said.append(f"mode changed: {changed}")
        return doc, said

    @property
    def normal_banner(self) -> timedelta:
        """How long "Normal drift sedan HH:MM" shows after a return to normal operation."""
        return timedelta(minutes=self.settings.normal_banner_minutes)

    def return_to_normal(self, session: Session, *, reason: str, now: datetime) -> tuple[StatusDocument, list[str]]:
        """End an outage in one action: a new signed version with normal operation for the region,
        no unit overrides, no routine, no text, no next update (so nothing can go overdue)."""
        return self.issue(session, mode="normal", headline="", routine="", details="", unit_modes={}, systems=[],
                          units=[], next_update_in=None, reason=reason, now=now)

    def preview(self, session: Session, *, mode: str, headline: str, routine: str, now: datetime, details: str = "",
                unit_modes: dict[str, str] | None = None, systems: list[str] | None = None,
                units: list[str] | None = None, next_update_in: timedelta | None = None) -> StatusDocument:
        """The document ``issue`` would sign, unsigned and unrecorded (the editor's live preview);
        raises ``StatusError`` as ``issue`` would."""
        return draft(version=next_version(current(self.store), now), mode=mode, headline=headline, routine=routine,
                     issuer_name=session.full_name, issuer_role=self.role_of(session, now),
                     next_update_in=next_update_in, details=details, unit_modes=unit_modes,
                     affected_systems=systems or [], affected_units=units or [], now=now,
                     banner_for=self.normal_banner)

    def _outbox(self, doc: StatusDocument) -> list[tuple[str, str, str, str]]:
        subject, text = subject_and_text(doc)
        queued = [("webhook", url.rstrip("/") + ("" if url.rstrip("/").endswith("/api/v1/status") else
                                                 "/api/v1/status"), subject, text)
                  for url in self.settings.push_urls]
        queued += [("webhook", url, subject, text) for url in self.settings.webhook_urls]
        queued += [("email", address, subject, text) for address in self.settings.email_to]
        return queued


def _mode_changes(previous: StatusDocument | None, doc: StatusDocument) -> str:
    before_region = previous.mode if previous else "normal"
    before_units = previous.unit_modes if previous else {}
    parts = []
    if before_region != doc.mode:
        parts.append(f"regionen {before_region} → {doc.mode}")
    for unit in sorted(set(before_units) | set(doc.unit_modes)):
        old, new = before_units.get(unit, before_region), doc.unit_modes.get(unit, doc.mode)
        if old != new:
            parts.append(f"{unit} {old} → {new}")
    return ", ".join(parts)


def subject_and_text(doc: StatusDocument) -> tuple[str, str]:
    """The plain-text form for e-mail and webhooks (Swedish, times in Europe/Stockholm)."""
    t = translator("sv")
    subject = f"[{t('status.mode.' + doc.mode)}] {doc.headline or t('status.mode.normal')} (v{doc.version})"
    lines = [f"{t('status.mode.' + doc.mode)}: {doc.headline}"]
    if doc.details:
        lines.append(doc.details)
    if doc.routine:
        lines.append(f"{t('status.routine')}: {doc.routine}")
    lines.append(t("status.writes." + doc.mode))
    for unit, mode in sorted(doc.unit_modes.items()):
        lines.append(f"{unit}: {t('status.mode.' + mode)}")
    if doc.affected_systems or doc.affected_units:
        lines.append(f"{t('status.affected')}: {', '.join(doc.affected_systems + doc.affected_units)}")
    lines.append(t("status.issued_by", who=doc.issuer_name, role=doc.issuer_role, at=local_time(doc.issued())))
    if doc.next_update_due:
        lines.append(t("status.next_update", at=local_time(doc.next_update())))
    lines.append(f"Version {doc.version}, nyckel {doc.key_id}")
    return subject, "\n".join(lines)
