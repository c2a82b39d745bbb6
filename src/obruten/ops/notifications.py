"""The outbox: notifications composed for an escalation step, delivered, retried, recorded.

Every attempt is a row in ``delivery_attempt``; a failed delivery is retried with growing
pauses until ``MAX_ATTEMPTS``; a notification for an alarm that has since been acknowledged or
resolved is cancelled rather than sent. Each message to a person carries a signed link that
acknowledges the alarm as that person.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from obruten.ops import timeline
from obruten.ops.alarms import Alarm
from obruten.ops.channels import Channel, DeliveryError, Message
from obruten.ops.clock import iso
from obruten.ops.oncall import ROLES, Holder
from obruten.ops.store import Row, Store
from obruten.platform.auth import TokenSigner, same_secret
from obruten.platform.i18n import local_time

RETRY_AFTER_S = (15, 30, 60, 120, 300, 600)
MAX_ATTEMPTS = 20
_ACK_PURPOSE = "ops-ack"


def ack_signature(signer: TokenSigner, alarm_id: int, user_id: int) -> str:
    return signer.sign(f"{alarm_id}:{user_id}", _ACK_PURPOSE)


def ack_link(signer: TokenSigner, public_url: str, alarm_id: int, user_id: int) -> str:
    return f"{public_url.rstrip('/')}/ack/{alarm_id}/{user_id}/{ack_signature(signer, alarm_id, user_id)}"


def check_ack_signature(signer: TokenSigner, alarm_id: int, user_id: int, signature: str) -> bool:
    return same_secret(signature, ack_signature(signer, alarm_id, user_id))


def enqueue_step(store: Store, alarm: Alarm, step: int, role: str | None, holders: list[Holder], *,
                 channels: Mapping[str, Channel], webhook_urls: list[str], signer: TokenSigner, public_url: str,
                 t: Callable[..., str], now: datetime) -> int:
    """Compose the notifications for one escalation step; returns how many were queued."""
    role_title = ROLES.get(role or "", role or "-")
    subject = t("ops.msg.subject", severity=t(f"ops.severity.{alarm.severity}"), id=alarm.id, summary=alarm.summary)
    base = t("ops.msg.body", summary=alarm.summary, role=role_title, step=step + 1,
             opened=iso(alarm.opened_at), id=alarm.id)
    queued: list[tuple[int | None, str, str, str, dict[str, object]]] = []
    for holder in holders:
        link = ack_link(signer, public_url, alarm.id, holder.user_id)
        body = base + "\n\n" + t("ops.msg.ack_link", link=link)
        if holder.email and "email" in channels:
            queued.append((holder.user_id, "email", holder.email, body, {}))
        if holder.phone and "sms" in channels:
            queued.append((holder.user_id, "sms", holder.phone, f"{subject} {t('ops.msg.ack_short')}: {link}", {}))
    payload = {"alarm_id": alarm.id, "rule": alarm.rule, "severity": alarm.severity, "summary": alarm.summary,
               "state": alarm.state, "step": step + 1, "role": role, "opened_at": iso(alarm.opened_at)}
    if "webhook" in channels:
        for url in webhook_urls:
            queued.append((None, "webhook", url, base, payload))
    with store.tx() as db:
        for user_id, channel, address, body, data in queued:
            db.execute("INSERT INTO notification (alarm_id, step, role, user_id, channel, address, subject, body, "
                       "payload, created_at, next_try_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (alarm.id, step, role, user_id, channel, address, subject, body,
                        json.dumps(data, ensure_ascii=False), iso(now), iso(now)))
    return len(queued)


CHANNEL_SV = {"sms": "SMS", "email": "E-post", "webhook": "Webhook"}


def nothing_sent_because(role: str | None, holders: list[Holder], channels: Mapping[str, Channel],
                         webhook_urls: list[str]) -> str:
    """Why an escalation step queued no message, in the words the timeline uses."""
    title = ROLES.get(role or "", role or "-")
    if not holders:
        return f"ingen har jouren som {title}"
    if not {"sms", "email"} & set(channels) and not webhook_urls:
        return "ingen kanal konfigurerad (varken SMS eller e-post)"
    reachable = [h for h in holders if (h.phone and "sms" in channels) or (h.email and "email" in channels)]
    if not reachable:
        return (f"{', '.join(h.full_name for h in holders)} saknar telefonnummer eller e-postadress för de "
                "kanaler som finns")
    return "okänd orsak"


def _delivered_sentence(row: Row, ok: bool, final: bool, now: datetime) -> str | None:
    """The timeline's line for a delivery: what was really sent, to whom, when (None: not worth a line)."""
    channel = CHANNEL_SV.get(row["channel"], row["channel"])
    if row["alarm_id"] is None:
        to = f"statusmeddelande till {row['address']}"
    else:
        to = f"till {ROLES.get(row['role'] or '', row['role'] or '-')} ({row['user_name'] or row['address']})"
    prefix = f"Larm {row['alarm_id']}: " if row["alarm_id"] is not None else ""
    if ok:
        return f"{prefix}{channel} {to}: skickat {local_time(now, '%H:%M')}"
    if row["attempts"] == 0:
        return f"{prefix}{channel} {to}: kunde inte skickas {local_time(now, '%H:%M')}, försöker igen"
    if final:
        return f"{prefix}{channel} {to}: gick inte att skicka, gav upp efter {MAX_ATTEMPTS} försök"
    return None


def deliver_due(store: Store, channels: Mapping[str, Channel], now: datetime, limit: int = 100) -> list[str]:
    """Send what is due; returns one sentence per attempt. The timeline gets what was really sent
    (and a delivery that failed), from these records."""
    said: list[str] = []
    due = store.all("SELECT n.*, a.state AS alarm_state, a.incident_id AS incident_id, u.full_name AS user_name "
                    "FROM notification n LEFT JOIN alarm a ON a.id = n.alarm_id "
                    "LEFT JOIN ops_user u ON u.id = n.user_id "
                    "WHERE n.state = 'pending' AND n.next_try_at <= ? ORDER BY n.id LIMIT ?", (iso(now), limit))
    for row in due:
        if row["alarm_state"] is not None and row["alarm_state"] != "firing":
            store.execute("UPDATE notification SET state = 'cancelled', last_error = ? WHERE id = ?",
                          (f"alarm is {row['alarm_state']}; not sent", row["id"]))
            said.append(f"cancelled notification {row['id']}: alarm {row['alarm_id']} is {row['alarm_state']}")
            continue
        channel = channels.get(row["channel"])
        error: str | None = None
        try:
            if channel is None:
                raise DeliveryError(f"channel {row['channel']!r} is not configured")
            channel.send(Message(row["address"], row["subject"], row["body"], json.loads(row["payload"])))
        except DeliveryError as exc:
            error = str(exc)
        attempts = row["attempts"] + 1
        with store.tx() as db:
            db.execute("INSERT INTO delivery_attempt (notification_id, at, ok, error) VALUES (?, ?, ?, ?)",
                       (row["id"], iso(now), int(error is None), error))
            if error is None:
                db.execute("UPDATE notification SET state = 'sent', attempts = ?, sent_at = ?, last_error = NULL "
                           "WHERE id = ?", (attempts, iso(now), row["id"]))
            else:
                pause = RETRY_AFTER_S[min(attempts - 1, len(RETRY_AFTER_S) - 1)]
                state = "failed" if attempts >= MAX_ATTEMPTS else "pending"
                db.execute("UPDATE notification SET state = ?, attempts = ?, last_error = ?, next_try_at = ? "
                           "WHERE id = ?", (state, attempts, error, iso(now + timedelta(seconds=pause)), row["id"]))
        line = _delivered_sentence(row, error is None, attempts >= MAX_ATTEMPTS, now)
        if line is not None:
            timeline.record(store, None, "notification.sent" if error is None else "notification.failed", line, now,
                            row["incident_id"])
        if error is None:
            said.append(f"sent notification {row['id']} by {row['channel']} to {row['address']}")
        else:
            said.append(f"notification {row['id']} by {row['channel']} to {row['address']} failed "
                        f"(attempt {attempts}): {error}")
    return said


def for_alarm(store: Store, alarm_id: int) -> list[dict[str, object]]:
    return [dict(r) for r in store.all("SELECT id, step, role, channel, address, state, attempts, last_error, "
                                       "created_at, sent_at FROM notification WHERE alarm_id = ? ORDER BY id",
                                       (alarm_id,))]
