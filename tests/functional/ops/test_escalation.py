"""Escalation on a controllable clock through the ops service: every notification reaches the local
fakes, acknowledgement stops the chain (the decisions alone are in tests/unit/ops)."""

from __future__ import annotations

from obruten.ops import alarms
from obruten.ops.clock import FakeClock
from obruten.ops.findings import Finding
from obruten.ops.service import OpsService


def _fire(service: OpsService) -> alarms.Alarm:
    finding = Finding("journal_write", "primary", "slow", 2300.0, "write and read in 2300 ms", service.clock.now())
    service.step([finding])
    service.clock.advance(seconds=20)  # type: ignore[attr-defined]
    service.step([Finding("journal_write", "primary", "slow", 2400.0, "write and read in 2400 ms",
                          service.clock.now())])
    fired = [a for a in alarms.active(service.store) if a.rule == "journal-write"]
    assert len(fired) == 1
    return fired[0]


def test_chain_runs_on_the_clock_and_acknowledgement_stops_it(service: OpsService, smtp, receiver) -> None:
    _, box = smtp
    clock: FakeClock = service.clock  # type: ignore[assignment]
    alarm = _fire(service)
    assert alarms.get(service.store, alarm.id).step == 0  # type: ignore[union-attr]
    service.deliver()

    def journal_mail() -> list[str]:
        return [m["to"] for m in box.messages if m["subject"].endswith(f"(larm {alarm.id})")]

    assert journal_mail() == ["it@ops.localhost"]
    first = next(m for m in box.messages if m["subject"].endswith(f"(larm {alarm.id})"))
    assert "Journalen sparar mycket långsamt sedan" in first["subject"] and f"/ack/{alarm.id}/" in first["body"]
    assert "+46700000000" in [b["to"] for b in receiver.at("/sms")]
    assert alarm.id in [b["alarm_id"] for b in receiver.at("/hook")]
    # the outage also proposed stabsläge to the officer on duty, through the TIB chain
    assert any("stabsläge" in m["subject"] and m["to"] == "tib@ops.localhost" for m in box.messages)

    clock.advance(minutes=4, seconds=59)
    service.step([])
    service.deliver()
    assert journal_mail() == ["it@ops.localhost"]  # it1 still has time

    clock.advance(seconds=1)
    service.step([])
    service.deliver()
    assert journal_mail() == ["it@ops.localhost", "it2@ops.localhost"]

    assert service.acknowledge(alarm.id, "it2", "console")
    clock.advance(minutes=30)
    service.step([])
    service.deliver()
    assert journal_mail() == ["it@ops.localhost", "it2@ops.localhost"], "nobody is alerted after the ack"
    actions = [t["action"] for t in alarms.transitions(service.store, alarm.id)]
    assert actions == ["fired", "notified", "escalated", "acknowledged"]
    ack = alarms.transitions(service.store, alarm.id)[-1]
    assert (ack["who"], ack["note"]) == ("it2", "via console")


def test_unacknowledged_chain_reaches_tib_and_repeats(service: OpsService, smtp) -> None:
    _, box = smtp
    clock: FakeClock = service.clock  # type: ignore[assignment]
    alarm = _fire(service)
    for minutes in (5, 5, 10, 10):  # it1 → it2 → sysf → tib → it1 again
        clock.advance(minutes=minutes)
        service.step([])
    service.deliver()
    journal_mail = [m["to"] for m in box.messages if m["subject"].endswith(f"(larm {alarm.id})")]
    assert journal_mail == ["it@ops.localhost", "it2@ops.localhost", "sysf@ops.localhost",
                            "tib@ops.localhost", "it@ops.localhost"]
