"""The follower loop (one sentence per tick), several processes sharing one node's file, and the
banner HTML that other UIs (ward kits, the ops console) get from ``render_banner``."""

from __future__ import annotations

from pathlib import Path

from obruten.ops import users
from obruten.ops.service import OpsService
from obruten.ops.status_service import StatusIssuer, StatusSettings
from obruten.status.follower import Follower
from obruten.status.ledger import Ledger
from pgtools import free_port

from .conftest import trust

DEAD = f"http://127.0.0.1:{free_port()}"


def test_follower_says_what_it_did_each_tick(service: OpsService, live, tmp_path: Path) -> None:
    issuer = StatusIssuer(service.store, service.var_dir, StatusSettings(key_file=tmp_path / "ops.pem"))
    service.status_issuer = issuer  # type: ignore[attr-defined]
    ledger = Ledger(tmp_path / "node")
    follower = Follower(ledger, [DEAD, live.base])
    assert follower.tick() == f"{live.base} has issued no status message yet"
    tib = users.authenticate(service.store, "tib", "demo")
    doc, _ = issuer.issue(tib, mode="storning", headline="Långsamt", routine="", reason="test",  # type: ignore[arg-type]
                          now=service.clock.now())
    sentence = follower.tick()  # not trusted yet: refused, and said so
    assert sentence.startswith("no status service answered") and "not trusted" in sentence
    assert ledger.current() is None
    trust(tmp_path / "node", issuer.key)
    assert follower.tick() == f"accepted status version {doc.version} (storning) from {live.base}"
    assert follower.tick() == f"up to date at version {doc.version} from {live.base}"
    alone = Follower(ledger, [DEAD])
    assert alone.tick().startswith("no status service answered; showing the last accepted message")
    assert ledger.current().version == doc.version
    assert Follower(ledger, []).tick().startswith("no status service configured")
