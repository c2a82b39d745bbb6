"""The one error type of ``obruten.backup``."""

from obruten.platform.errors import ObrutenError


class BackupError(ObrutenError, RuntimeError):
    """A backup, restore or verification failed; the message says what to do next."""
