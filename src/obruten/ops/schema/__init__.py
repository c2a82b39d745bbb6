"""The ops store's versioned schema (core, event analysis, status record, audit anchors).

Migrations are written in SQLite's dialect (ADR 0030) and translated for PostgreSQL by
``ops.store_postgres.translate_ddl``. 0001–0004 are the schema as it was before versioning
(``CREATE TABLE IF NOT EXISTS``, and 0005 the columns added in code before versioning): a store made
then is adopted, not recreated (ADOPT).
"""

from __future__ import annotations

PACKAGE = __name__
STORE = "ops"
# its own ledger name: an ops store is never the journal's database (settings refuse it), but a
# shared test or lab server must not mix the two ledgers
LEDGER = "ops_schema_migration"
ADOPT = "0005_alarm_detail_incident_impact"  # the last migration a store made before versioning may already have
