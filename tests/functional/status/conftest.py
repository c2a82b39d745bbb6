"""Status tests: a signing key the journal under test trusts, and a helper that pushes signed
documents to it (the journal is left in normal mode afterwards, for the other tests)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from obruten.platform.signing import SigningKey, load_or_create_key
from obruten.status.document import StatusDocument
from obruten.status.ledger import default_trusted_keys
from unit.status.conftest import make_doc, trust  # noqa: F401  (built documents, shared with the unit tests)

# the ops tests' local SMTP server, HTTP receiver, clock and ops service (no journal needed)
from ..ops.conftest import (  # noqa: F401
    clock,
    live,
    make_service,
    ops_store_database,
    receiver,
    service,
    settings,
    smtp,
    store_location,
)


class Publisher:
    """Signs documents with a trusted key and pushes them to a running journal."""

    def __init__(self, base: str, key: SigningKey) -> None:
        self.base, self.key = base, key

    def current_version(self) -> int:
        doc = httpx.get(self.base + "/api/v1/status", timeout=10).json()["document"]
        return doc["version"] if doc else 0

    def push(self, mode: str = "normal", **fields: object) -> StatusDocument:
        doc = make_doc(self.key, self.current_version() + 1, mode, **fields)
        r = httpx.post(self.base + "/api/v1/status", json={"document": doc.as_dict()}, timeout=10)
        assert r.status_code == 202, r.text
        return doc


@pytest.fixture(scope="session")
def status_key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return load_or_create_key(tmp_path_factory.mktemp("status-key") / "signing_key.pem")


@pytest.fixture
def publisher(journal_server, status_key: SigningKey) -> Iterator[Publisher]:  # type: ignore[no-untyped-def]
    if status_key.key_id not in (default_trusted_keys(journal_server.var_dir).read_text()
                                 if default_trusted_keys(journal_server.var_dir).exists() else ""):
        trust(journal_server.var_dir, status_key)
    pub = Publisher(journal_server.base, status_key)
    yield pub
    pub.push("normal")  # leave the shared journal writable for the other tests
