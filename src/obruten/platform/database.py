"""Where a service's database is: a PostgreSQL URL, or the embedded instance under var/."""

from __future__ import annotations

from obruten.platform.config import Config
from obruten.platform.pgserver import DATABASE, PostgresInstance
from obruten.platform.progress import Say


def embedded_instance(config: Config) -> PostgresInstance:
    return PostgresInstance.at(config.var_dir, config.pg_port, config.pg_user)




def start(config: Config, say: Say = print) -> str:
    """Make the database reachable and return its URL: create and start the embedded server if that
    is the configuration, and create the database. Migrations are the caller's (its schema)."""
    if config.embedded:
        pg = embedded_instance(config)
        if pg.moved:
            say(pg.moved[0].upper() + pg.moved[1:] + ".")
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
    return url


def url_for(config: Config) -> str:
    """The URL to use, without starting anything (the embedded server must already run)."""
    if config.database_url:
        return config.database_url
    return embedded_instance(config).url()
