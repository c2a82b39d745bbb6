"""Status documents built and signed in the test, and a node that trusts their key."""

from __future__ import annotations

from pathlib import Path

from obruten.platform.signing import SigningKey
from obruten.status.document import StatusDocument, draft
from obruten.status.ledger import default_trusted_keys


def trust(var_dir: Path, key: SigningKey) -> None:
    path = default_trusted_keys(var_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fh.write(key.trusted_line() + "\n")


def make_doc(key: SigningKey, version: int, mode: str = "normal", **fields: object) -> StatusDocument:
    values: dict[str, object] = {"headline": "" if mode == "normal" else f"Test: {mode}",
                                 "routine": "Pappersjournal enligt reservrutin RR-1",
                                 "issuer_name": "Tove Beredskap", "issuer_role": "TIB"}
    values.update(fields)
    return draft(version=version, mode=mode, **values).signed(key)  # type: ignore[arg-type]
