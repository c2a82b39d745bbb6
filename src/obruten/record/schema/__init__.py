"""The journal database's schema: the SQL migrations beside this file, and making a database ready."""

from __future__ import annotations

from obruten.platform import migrations
from obruten.platform.config import Config
from obruten.platform.database import start
from obruten.platform.migrations import MigrationError
from obruten.platform.progress import Say

__all__ = ["MigrationError", "migrate", "pending", "prepare"]


def migrate(url: str) -> list[str]:
    """Apply the journal's pending migrations; return the names applied (empty if up to date)."""
    return migrations.migrate(url, __name__)


def pending(url: str) -> list[str]:
    return migrations.pending(url, __name__)


def prepare(config: Config, say: Say = print) -> str:
    """Make the journal database usable and return its URL: start the embedded server if that is
    the configuration, create the database, apply pending migrations."""
    url = start(config, say)
    applied = migrate(url)
    if applied:
        say(f"Applied schema migrations: {', '.join(applied)}")
    return url
