"""Alert channels: one small contract, three implementations (webhook, e-mail, SMS gateway).

A channel sends one ``Message`` or raises ``DeliveryError``; it never retries by itself (the
outbox in ``notifications`` records every attempt and retries). Every network call is bounded
by a timeout.
"""

from __future__ import annotations

import json
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Protocol

from obruten.platform import http
from obruten.platform.errors import ObrutenError


class DeliveryError(ObrutenError, RuntimeError):
    """The message was not delivered; the text says why (kept on the notification)."""


@dataclass(frozen=True)
class Message:
    address: str  # e-mail address, phone number or URL, as the channel understands it
    subject: str
    body: str
    payload: dict[str, object] = field(default_factory=dict)  # structured form for machines


class Channel(Protocol):
    name: str  # "email", "sms", "webhook"

    def send(self, message: Message) -> None:
        """Deliver or raise DeliveryError. Must return within the channel's timeout."""
        ...


def _post_json(url: str, data: dict[str, object], timeout: float) -> None:
    try:
        with http.client(timeout) as client:
            response = client.post(url, content=json.dumps(data, ensure_ascii=False).encode(),
                                   headers={"Content-Type": "application/json"})
    except http.FAILURES as exc:
        raise DeliveryError(f"{url}: {http.reason(exc)}") from exc
    if not response.is_success:
        raise DeliveryError(f"{url} answered HTTP {response.status_code}")


class WebhookChannel:
    """POSTs the message's payload (plus subject and text) as JSON to the message's address."""

    name = "webhook"

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout

    def send(self, message: Message) -> None:
        _post_json(message.address, {**message.payload, "subject": message.subject, "text": message.body},
                   self.timeout)


class SmsHttpChannel:
    """A generic SMS gateway over HTTP: POST ``{"to": number, "message": text}`` as JSON."""

    name = "sms"

    def __init__(self, gateway_url: str, timeout: float = 5.0, max_chars: int = 480) -> None:
        self.gateway_url, self.timeout, self.max_chars = gateway_url, timeout, max_chars

    def send(self, message: Message) -> None:
        _post_json(self.gateway_url, {"to": message.address, "message": message.body[: self.max_chars]},
                   self.timeout)


class SmtpChannel:
    """E-mail over SMTP (optionally STARTTLS and login)."""

    name = "email"

    def __init__(self, host: str, port: int = 25, sender: str = "obruten-ops@localhost", timeout: float = 10.0,
                 starttls: bool = False, username: str | None = None, password: str | None = None) -> None:
        self.host, self.port, self.sender, self.timeout = host, port, sender, timeout
        self.starttls, self.username, self.password = starttls, username, password

    def send(self, message: Message) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.address, message.subject
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.host}:{self.port}: {exc}") from exc
