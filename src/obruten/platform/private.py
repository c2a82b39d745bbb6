"""Files and folders that hold patient data: readable by the service's own user only.

Ward kits and the ward agent's downtime store carry names and personal numbers; on a shared ward
PC or server another local account must not be able to read them (folders 0700, files 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if missing and make it 0700; return it."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if missing, with mode 0600 from the start; make an existing one 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    path.chmod(FILE_MODE)
    return path


def make_private(folder: Path) -> None:
    """Make ``folder`` 0700 and every file below it 0600 (folders below it 0700)."""
    folder.chmod(DIR_MODE)
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.chmod(os.path.join(root, name), DIR_MODE)
        for name in files:
            os.chmod(os.path.join(root, name), FILE_MODE)
