"""The read copy keeps a ward list cached across writes to tables the list does not read; the list of
tables it reads must therefore be the one its SQL really reads (readcopy/journal.py, schema 0080)."""

from __future__ import annotations

import re

from obruten.record.ward import WARD_LIST_SQL, WARD_LIST_TABLES


def test_the_ward_list_reads_exactly_the_tables_it_declares() -> None:
    ctes = set(re.findall(r"(\w+)\s+AS\s*\(", WARD_LIST_SQL))  # WITH local AS (...), adm AS (...)
    named = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", WARD_LIST_SQL)) - ctes - {"unnest"}
    tables = {re.sub(r"_current$", "", name) for name in named}  # a *_current view reads its table
    assert tables == WARD_LIST_TABLES
