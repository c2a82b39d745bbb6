"""The follower loop (one sentence per tick), several processes sharing one node's file, and the
banner HTML that other UIs (ward kits, the ops console) get from ``render_banner``."""

from __future__ import annotations

from pathlib import Path

from obruten.ops import users
from obruten.ops.service import OpsService
from obruten.ops.status_service import StatusIssuer, StatusSettings
from obruten.platform.signing import load_or_create_key
from obruten.status.banner import banner_css, render_banner
from obruten.status.follower import Follower
from obruten.status.ledger import Ledger
from pgtools import free_port

from .conftest import make_doc, trust

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


def test_processes_of_one_node_share_what_was_pushed_to_any_of_them(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    trust(tmp_path / "var", key)
    worker_a, worker_b = Ledger(tmp_path / "var"), Ledger(tmp_path / "var")
    assert worker_b.current() is None
    worker_a.offer(make_doc(key, 7, "reservrutin"))
    assert worker_b.current().version == 7  # re-read from disk on change
    worker_b.offer(make_doc(key, 8, "normal"))
    assert worker_a.current().version == 8


def test_render_banner_for_other_uis(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "k.pem")
    assert render_banner(make_doc(key, 1, "normal")) == ""  # nothing to say
    doc = make_doc(key, 2, "storning", unit_modes={"AVD7": "reservrutin"}, routine="RR-1 <pärm>")
    sv = render_banner(doc, "sv", units=["AVD7"])
    assert 'data-mode="reservrutin"' in sv and "Reservrutin gäller" in sv and "RR-1 &lt;pärm&gt;" in sv
    en = render_banner(doc, "en", units=["AVD8"])
    assert 'data-mode="storning"' in en and "Disturbance" in en and "AVD7 – Reserve routines in force" in en
    assert ".banner-reservrutin" in banner_css()


def test_banner_says_when_the_next_update_is_overdue(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    key = load_or_create_key(tmp_path / "k.pem")
    fresh = make_doc(key, 1, "storning", next_update_in=timedelta(minutes=30))
    late = make_doc(key, 2, "storning", next_update_in=timedelta(minutes=30),
                    now=datetime.now(UTC) - timedelta(hours=1))
    assert "banner-overdue" not in render_banner(fresh)
    assert "försenad" in render_banner(late)
