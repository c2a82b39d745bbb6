"""Where the journal's database is: a PostgreSQL URL, or the embedded instance under var/."""

from __future__ import annotations

from collections.abc import Callable

from obruten.config import Config
from obruten.pgserver import DATABASE, PostgresInstance
from obruten.schema import migrate


def embedded_instance(config: Config) -> PostgresInstance:
    return PostgresInstance.at(config.var_dir, config.pg_port, config.pg_user)


def prepare(config: Config, say: Callable[[str], None] = print) -> str:
    """Make the database usable and return its URL: start the embedded server if that is the
    configuration, create the database, apply pending migrations."""
    if config.embedded:
        pg = embedded_instance(config)
        if not pg.initialized:
            say(f"Creating the embedded PostgreSQL in {pg.data_dir} …")
            pg.init()
        if not pg.is_running():
            say(f"Starting PostgreSQL on 127.0.0.1:{pg.port} (log: {pg.log_file}) …")
            pg.start()
        pg.ensure_database(DATABASE)
        url = pg.url()
    else:
        assert config.database_url is not None
        url = config.database_url
    applied = migrate(url)
    if applied:
        say(f"Applied schema migrations: {', '.join(applied)}")
    return url


def url_for(config: Config) -> str:
    """The URL to use, without starting anything (the embedded server must already run)."""
    if config.database_url:
        return config.database_url
    return embedded_instance(config).url()
