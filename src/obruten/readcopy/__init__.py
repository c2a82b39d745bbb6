"""The read copy (läskopia): the journal served read-only from a PostgreSQL hot standby.

``spool``/``shipper``: reads are audited to a local hash-chained spool and shipped to the primary
exactly once. ``lag``: how far behind the copy is. ``journal``: the read-only journal (local
emergency access, cached bodies). ``web``: refusing writes, the banner, ``/api/v1/read-copy``.
``standby``: make a streaming standby of an embedded instance (tests, benchmarks, small sites).
"""

from __future__ import annotations

from obruten.platform.config import Config

DEFAULT_NODE = "read-copy"


def node_name(config: Config) -> str:
    """The read copy's audit node: its configured name, unless that is the primary's default."""
    return DEFAULT_NODE if config.node_name == "journal" else config.node_name
