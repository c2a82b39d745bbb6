"""Several processes sharing one node's status file, and the banner HTML that other UIs (ward kits,
the ops console) get from ``render_banner`` (the follower loop against the ops app is functional)."""

from __future__ import annotations

from pathlib import Path

from obruten.platform.signing import load_or_create_key
from obruten.status.banner import banner_css, render_banner
from obruten.status.ledger import Ledger

from .conftest import make_doc, trust


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
