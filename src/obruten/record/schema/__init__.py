"""The journal database's schema: the SQL migrations beside this file, least-privilege roles, and
making a database ready.

Migrations and ``roles.sql`` run with the installer's privileged URL; the journal itself connects
as ``obruten_app`` (``roles.sql`` says what it may do), whose URL ``prepare`` returns.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from importlib import resources
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import psycopg

from obruten.platform import migrations
from obruten.platform.config import Config
from obruten.platform.database import start
from obruten.platform.migrations import MigrationError
from obruten.platform.progress import Say

__all__ = ["APP_ROLE", "MigrationError", "app_url", "migrate", "pending", "prepare", "prepare_admin", "settle_roles"]

APP_ROLE = "obruten_app"
OWNER_ROLE = "obruten_owner"


def migrate(url: str) -> list[str]:
    """Apply the journal's pending migrations and settle roles and grants; return the migrations
    applied (empty if up to date). ``url`` must be privileged (superuser or owner with CREATEROLE)."""
    applied = migrations.migrate(url, __name__)
    settle_roles(url)
    return applied


def pending(url: str) -> list[str]:
    return migrations.pending(url, __name__)


def settle_roles(url: str) -> None:
    """Create the owner and app roles if missing; give every object to the owner; grant the app
    exactly what ``roles.sql`` lists. Idempotent."""
    sql = resources.files(__name__).joinpath("roles.sql").read_text(encoding="utf-8")
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (migrations.LOCK,))
        conn.execute(sql.encode())


def privileged(url: str) -> bool:
    """May this URL migrate and create roles (superuser, or CREATEROLE)?"""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def app_url(admin_url: str, password_file: Path) -> str:
    """The URL of ``obruten_app`` on the same server(s) and database as ``admin_url``, whose password
    is set on the role with the privileged URL.

    The password is derived from the privileged URL's password (HMAC), so every node started with
    the same privileged URL (two journal hosts, a read copy) derives the same one and none locks
    out another. Without a password in the URL (peer or certificate login) it is made once into
    ``password_file`` (0600)."""
    parts = urlsplit(admin_url)
    secret = unquote(parts.password or "")
    if secret:
        digest = hmac.new(secret.encode(), b"obruten_app login password", hashlib.sha256).digest()
        password = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    elif password_file.exists():
        password = password_file.read_text().strip()
    else:
        password_file.parent.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(24)
        password_file.touch(mode=0o600)
        password_file.write_text(password)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
            psycopg.sql.Identifier(APP_ROLE), psycopg.sql.Literal(password)))
    hosts = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{APP_ROLE}:{quote(password, safe='')}@{hosts}"))


def prepare_admin(config: Config, say: Say = print) -> str:
    """Make the journal database usable and return the configured (privileged) URL, for tools that
    load data (seed) or administer the database. Starts the embedded server if that is the
    configuration, creates the database, applies pending migrations and settles the roles. With
    an unprivileged URL (production: the app's own URL) it only checks that nothing is pending."""
    url = start(config, say)
    if not privileged(url):
        waiting = pending(url)
        if waiting:
            raise MigrationError(f"migrations {', '.join(waiting)} are pending and this database URL may not apply "
                                 "them; run `obruten db start --database-url <owner or superuser URL>` once, then "
                                 "start again")
        return url
    applied = migrate(url)
    if applied:
        say(f"Applied schema migrations: {', '.join(applied)}")
    if applied and applied[0] == "0001_record":  # a new installation: this release's flags start on
        _install_flags(url, config.var_dir)
        say("New installation: every feature flag of this release is on (`obruten flags list`)")
    return url


def _install_flags(url: str, var_dir: Path) -> None:
    import asyncio

    from obruten.record import flags  # the flag catalogue audits through the record

    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await flags.install_defaults(conn, var_dir)

    asyncio.run(run())


def prepare(config: Config, say: Say = print) -> str:
    """``prepare_admin``, then the URL the journal connects with: ``obruten_app``'s (least privilege),
    or the configured URL unchanged when it is already unprivileged."""
    url = prepare_admin(config, say)
    return app_url(url, config.var_dir / "app-password") if privileged(url) else url
