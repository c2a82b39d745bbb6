"""Machine facts every benchmark prints first (and stores with its results)."""

from __future__ import annotations

import os
import platform
import sys
import time


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(postgres_version: str | None = None, **extra: object) -> dict[str, object]:
    info: dict[str, object] = {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    if postgres_version is not None:
        info["postgres"] = postgres_version
    info.update(extra)
    return info


def print_machine_info(info: dict[str, object], file: object = None) -> None:
    out = file or sys.stdout
    for key, value in info.items():
        print(f"{key:<12} {value}", file=out)  # type: ignore[call-overload]


def calibration() -> float:
    """Seconds for a fixed CPU-bound loop: the machine's speed right now (its spread across a
    bench's rounds says how noisy the shared machine was)."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return time.perf_counter() - started
