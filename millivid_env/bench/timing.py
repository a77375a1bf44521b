"""Shared timing helpers: warm up, then count calls for a fixed wall-clock budget."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import time
from typing import Callable, Iterator


def rate(fn: Callable[[], object], seconds: float, warmup: int = 3) -> float:
    """Calls of `fn` per second over at least `seconds` (after `warmup` untimed calls)."""
    for _ in range(warmup):
        fn()
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return calls / elapsed


def _spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy_cores(n: int) -> Iterator[None]:
    """Run `n` processes that spin on the CPU for the duration: the setting where a trainer, env
    workers or a model share the cores with what is being timed."""
    spinners = [multiprocessing.get_context("spawn").Process(target=_spin, daemon=True) for _ in range(n)]
    for p in spinners:
        p.start()
    try:
        time.sleep(0.5)  # let them start spinning
        yield
    finally:
        for p in spinners:
            p.terminate()
            p.join()


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, object]:
    import numba

    return {
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
    }
