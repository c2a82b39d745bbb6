"""The ward agent's downtime store (SQLite): versioned schema.

0001 is the schema as it was before versioning (``CREATE TABLE IF NOT EXISTS``): a ward PC's store
made then is adopted in place, with its queued entries, not recreated (ADOPT).
"""

from __future__ import annotations

PACKAGE = __name__
STORE = "ward agent"
ADOPT = "0002_reserve_numbers"  # stores made by 2026.12 pre-releases have the reserve tables
