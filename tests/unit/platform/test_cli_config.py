"""Settings given to `obruten` reach its subcommands unless the subcommand says otherwise."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from obruten.platform.clikit import config_from


def test_group_database_url_is_not_hidden_by_an_unset_subcommand_option(tmp_path: Path) -> None:
    ctx = SimpleNamespace(obj={"file": None, "var_dir": tmp_path, "database_url": "postgresql://h/group"})
    # `obruten --database-url … serve` (serve's own --database-url not given → None)
    cfg = config_from(ctx, database_url=None, http_port=None)  # type: ignore[arg-type]
    assert cfg.database_url == "postgresql://h/group"
    # `obruten serve --database-url …` wins
    cfg = config_from(ctx, database_url="postgresql://h/sub")  # type: ignore[arg-type]
    assert cfg.database_url == "postgresql://h/sub"
