"""Benchmarks of scalelaws, each against a baseline measured in the same run.

Run them all with ``python -m benchmarks`` (or ``make bench``); ``python -m benchmarks --quick``
runs small sizes (CI smoke test); ``python -m benchmarks structure`` runs only
``bench_structure``.

Protocol for a benchmark module ``benchmarks/bench_<name>.py``: it defines
``main(quick: bool = False) -> list[dict]``, prints its own details, and returns one dict per
comparison with the keys ``name`` (str), ``baseline`` and ``candidate`` (what was compared),
``baseline_s`` and ``candidate_s`` (seconds); ``ratio`` (``baseline_s / candidate_s``) and
``note`` are optional. ``python -m benchmarks`` collects them into one summary table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_of", "machine_note"]


def best_of(func: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Run ``func`` ``repeat`` times; return the shortest wall time (s) and the last result."""
    best = float("inf")
    out = None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def machine_note() -> str:
    """One line about the machine: CPUs, numba threads and the load average (timings are noisy
    on shared machines)."""
    try:
        import numba

        threads = numba.get_num_threads()
    except ImportError:  # pragma: no cover
        threads = -1
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        load = "load average n/a"
    return f"{os.cpu_count()} CPUs, numba threads {threads}, {load}"
