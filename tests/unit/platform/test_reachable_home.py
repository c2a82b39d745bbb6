"""Where the embedded PostgreSQL keeps its files when the var dir lies where its service user cannot enter."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from obruten.platform.privileges import ServiceUser, reachable_home
from pgtools import reachable_tempdir

OTHER = ServiceUser("postgres", os.geteuid() + 1, os.getegid() + 1, "/tmp")  # a user that is not us


def test_a_var_dir_the_service_user_can_enter_keeps_its_files() -> None:
    open_dir = reachable_tempdir("obruten-reach-")
    try:
        assert reachable_home(OTHER, open_dir / "var") == ((open_dir / "var").resolve(), None)
    finally:
        shutil.rmtree(open_dir)


def test_a_var_dir_in_a_private_home_moves_to_a_stable_place(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    var_dir = home / "checkout" / "var"
    root = tmp_path / "lib"
    moved_to, why = reachable_home(OTHER, var_dir, root)
    assert moved_to.parent == root and moved_to != var_dir
    assert reachable_home(OTHER, var_dir, root)[0] == moved_to  # stable: the same var dir, the same place
    assert reachable_home(OTHER, home / "other" / "var", root)[0] != moved_to
    assert why is not None and "cannot enter" in why and str(moved_to) in why


def test_ourselves_we_can_always_enter(tmp_path: Path) -> None:
    me = ServiceUser("me", os.geteuid(), os.getegid(), "/tmp")
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    assert reachable_home(me, home / "var") == ((home / "var").resolve(), None)
