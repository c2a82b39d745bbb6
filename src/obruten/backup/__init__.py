"""Backups that are proven: WAL archive, full and incremental base backups, verified restores."""
