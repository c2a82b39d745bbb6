"""The cyclic garbage collector in a long-running server process.

A full collection walks every tracked object. In a journal or read-copy worker most of them are made
at start-up (modules, routes, templates, the schema models: ~100,000) and live as long as the process,
and a full pass over them stopped the worker's event loop for 70–110 ms every 2–3 s under load:
every request waiting then, and one such pause in a window is the window's p99
(``bench/read_copy_load.py``). ``settle`` collects once when start-up is done and moves what survives
into the permanent generation (``gc.freeze``), so later passes walk only what requests made; it is
called once per worker process, when the app's lifespan has started everything.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect once, then exclude everything alive now from future collections; returns how many
    objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
