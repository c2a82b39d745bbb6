"""Submit downtime documentation to the journal once it can be reached.

Each tick takes a snapshot of the queued entries, sends the oldest as one batch and returns a plain
sentence of what happened. An entry is marked submitted only after the journal answered 201 and
listed its key as acknowledged (durably received). If the agent dies before it saves that, the
entry is sent again and the journal acknowledges it again without a second copy (idempotency
key); if the journal dies mid-batch, its transaction is rolled back and the whole batch is sent
again. Failures are sorted: unreachable or 5xx → keep everything and retry; 409/422 with per-key
problems → those entries are refused (shown to staff), the rest go in the next batch; 401/403 →
the token is wrong, nothing is sent until it is fixed.

Run on its own (the crash tests do) with ``python -m obruten.ward_agent.downtime_submit``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

from obruten.platform import http
from obruten.postreg import reserve
from obruten.postreg.models import BATCH_FORMAT, MAX_ENTRIES
from obruten.ward_agent.downtime_store import DowntimeStore

MAX_BATCH_BYTES = 56 * 1024  # under the journal's default 64 KiB request limit


@dataclass
class Submitter:
    store: DowntimeStore
    journal_url: str
    token: str
    max_batch_bytes: int = MAX_BATCH_BYTES
    max_entries: int = 500
    timeout: float = 15.0
    pause_after_ack: float = 0.0  # fault injection only: widen the window between ack and saving it

    def __post_init__(self) -> None:
        self.outcome = "none"  # what the last drain found: sent, nothing, unreachable, refused, token, error
        self._client = http.client(self.timeout, base_url=self.journal_url.rstrip("/"), token=self.token)

    def close(self) -> None:
        self._client.close()

    def _batch(self) -> tuple[list[str], bytes]:
        queued = self.store.queued(min(self.max_entries, MAX_ENTRIES))
        head = {"format": BATCH_FORMAT, "batch_id": str(uuid.uuid4()), "device_id": self.store.device_id,
                "unit_id": self.store.unit_id, "sent_at": datetime.now(UTC).isoformat()}
        size = len(_encode({**head, "entries": []}))
        keys: list[str] = []
        entries: list[dict] = []
        for key, entry in queued:
            encoded = len(_encode(entry)) + 2
            if entries and size + encoded > self.max_batch_bytes:
                break
            keys.append(key)
            entries.append(entry)
            size += encoded
        return keys, _encode({**head, "entries": entries})

    def submit_once(self) -> str:
        """Send one batch; return what happened as a sentence."""
        return self._submit()[0]

    def _said(self, outcome: str, sentence: str, more: bool) -> tuple[str, bool]:
        if outcome != "nothing" or self.outcome == "none":  # a drain that sent something ends with "nothing"
            self.outcome = outcome
        return sentence, more

    def _submit(self) -> tuple[str, bool]:
        """One batch: (what happened, whether to send the next batch right away)."""
        keys, body = self._batch()
        if not keys:
            return self._said("nothing", "nothing queued", False)
        batch_id = json.loads(body)["batch_id"]
        try:
            r = self._client.post("/api/v1/postreg/batches", content=body,
                                  headers={"Content-Type": "application/json"})
        except httpx.HTTPError as exc:
            return self._said("unreachable", f"journal unreachable ({type(exc).__name__}); {len(keys)}+ entries "
                              "stay queued, retrying", False)
        if r.status_code == 201:
            acked = set(r.json().get("acknowledged", []))
            done = [k for k in keys if k in acked]
            if self.pause_after_ack:
                time.sleep(self.pause_after_ack)
            self.store.mark_submitted(done, batch_id)
            answer = r.json()
            return self._said("sent", f"batch {batch_id} acknowledged: {len(done)} entries "
                              f"({answer.get('received', 0)} new, {answer.get('already', 0)} already received)", True)
        if r.status_code in (409, 422):
            problems = {p["key"]: p["error"] for p in _json(r).get("details", {}).get("problems", [])
                        if p.get("key") in keys}
            if problems:
                self.store.mark_refused(problems)
                return self._said("refused", f"journal refused {len(problems)} entries "
                                  f"({next(iter(problems.values()))}); they are marked refused, the others go in "
                                  "the next batch", True)
            return self._said("error", f"journal refused the batch ({r.status_code}: "
                              f"{_json(r).get('error', r.text[:200])}); fix and retry", False)
        if r.status_code == 413:
            if len(keys) == 1:
                self.store.mark_refused({keys[0]: "larger than the journal's request limit (max_body_bytes)"})
                return self._said("refused", "one entry is larger than the journal accepts; it is marked refused "
                                  "(document it on paper)", True)
            self.max_batch_bytes = max(4096, self.max_batch_bytes // 2)
            return self._said("sent", f"batch too large for the journal; sending at most {self.max_batch_bytes} bytes "
                              "from now on", True)
        if r.status_code in (401, 403):
            return self._said("token", f"journal refused the agent's token ({_json(r).get('error', r.status_code)});"
                              " print it with `obruten wardkit agent-token --unit <unit>` and configure the agent",
                              False)
        return self._said("error", f"journal answered {r.status_code}; entries stay queued, retrying", False)

    def refresh_states(self, limit: int = 500) -> str:
        keys = self.store.awaiting_decision(limit)
        if not keys:
            return "no decisions awaited"
        try:
            r = self._client.post("/api/v1/postreg/states", json={"keys": keys, "unit_id": self.store.unit_id,
                                                                  "device_id": self.store.device_id})
        except httpx.HTTPError as exc:
            return f"journal unreachable ({type(exc).__name__}); decisions not refreshed"
        if r.status_code != 200:
            return f"journal answered {r.status_code} to the state query"
        states = r.json()["states"]
        self.store.set_journal_states(states)
        decided = sum(1 for s in states.values() if s["state"] != "pending")
        return f"{decided} of {len(keys)} submitted entries are decided in the journal"

    # ---- who and whom: the staff verifier, reservnummer blocks and patients (ADR 0049) ---------------
    def fetch_verifier(self) -> dict | None:
        """The unit's signed staff verifier from the journal (checked by the caller), or None."""
        try:
            r = self._client.get("/api/v1/postreg/verifier", params={"unit_id": self.store.unit_id,
                                                                     "device_id": self.store.device_id})
        except httpx.HTTPError:
            return None
        return _json(r) if r.status_code == 200 else None

    def ensure_reserve_numbers(self, refill_below: int = reserve.REFILL_BELOW) -> str:
        """Ask the journal for the next block when fewer than ``refill_below`` numbers are free."""
        free = len(self.store.free_reserve_numbers())
        if free >= refill_below:
            return f"{free} reservnummer free"
        try:
            r = self._client.post("/api/v1/postreg/reserve-blocks", json={"unit_id": self.store.unit_id,
                                                                         "device_id": self.store.device_id})
        except httpx.HTTPError as exc:
            return f"journal unreachable ({type(exc).__name__}); {free} reservnummer free"
        if r.status_code != 201:
            return f"journal answered {r.status_code} to the reservnummer request; {free} free"
        block = r.json()
        self.store.add_block(int(block["first"]), int(block["size"]))
        return f"new reservnummer block {block['numbers'][0]} … {block['numbers'][1]}"

    def register_reserve_patients(self) -> str:
        """Send patients registered under a reservnummer that the journal does not know yet ("" if none)."""
        waiting = [p for p in self.store.reserve_patients() if p["journal_patient_id"] is None]
        if not waiting:
            return ""
        body = {"unit_id": self.store.unit_id, "device_id": self.store.device_id, "patients": [
            {k: p[k] for k in ("reserve_number", "given_name", "family_name", "sex", "birth_date", "registered_at",
                               "registered_by")} for p in waiting]}
        try:
            r = self._client.post("/api/v1/postreg/reserve-patients", json=body)
        except httpx.HTTPError as exc:
            return f"journal unreachable ({type(exc).__name__}); {len(waiting)} reservnummer patients wait"
        if r.status_code != 200:
            return f"journal refused the reservnummer patients ({r.status_code}: {_json(r).get('error', '')})"
        self.store.set_journal_patient({k: int(v) for k, v in r.json()["patients"].items()})
        return f"{len(waiting)} reservnummer patients registered in the journal"

    def drain(self, max_batches: int = 10_000) -> list[str]:
        """Submit until nothing is queued or the journal stops taking batches; the sentences, in order."""
        said: list[str] = [s for s in (self.register_reserve_patients(),) if s]
        self.outcome = "none"
        for _ in range(max_batches):
            sentence, more = self._submit()
            said.append(sentence)
            if not more:
                break
        said.append(self.refresh_states())
        return said


def _encode(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def _json(r: httpx.Response) -> dict:
    try:
        value = r.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Submit a ward agent's downtime documentation to the journal.")
    parser.add_argument("--store", type=Path, required=True, help="the agent's downtime SQLite file")
    parser.add_argument("--unit", required=True)
    parser.add_argument("--device", required=True)
    parser.add_argument("--journal", required=True, help="journal base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", required=True, help="the unit's ward-agent token (obruten wardkit agent-token)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between attempts")
    parser.add_argument("--once", action="store_true", help="drain once and exit")
    parser.add_argument("--max-entries", type=int, default=500)
    parser.add_argument("--pause-after-ack", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    store = DowntimeStore(args.store, args.unit, args.device)
    submitter = Submitter(store, args.journal, args.token, max_entries=args.max_entries,
                          pause_after_ack=args.pause_after_ack)
    try:
        while True:
            for sentence in submitter.drain():
                print(sentence, flush=True)
            if args.once:
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        submitter.close()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
