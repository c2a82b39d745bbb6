"""How long jobs tell what they do: a sentence at a time (``Say``) or counts per stage (``Progress``).

The command line passes ``clikit.say`` and ``clikit.progress_bar()``; tests and services pass
their own (a list's ``append``, a logger) or ``quiet``.
"""

from __future__ import annotations

from collections.abc import Callable

Say = Callable[[str], None]
"""Receives one sentence about what is being done or was decided."""

Progress = Callable[[str, int, int], None]
"""Receives ``(stage, done, total)`` as a long job advances."""


def quiet(sentence: str) -> None:
    """A ``Say`` that drops every sentence."""
