"""The one error type of ``obruten.backup``."""


class BackupError(RuntimeError):
    """A backup, restore or verification failed; the message says what to do next."""
