"""The measuring discipline every ``make bench`` module shares.

A figure is never one run: the machine is shared, and its load drifts during a benchmark.
``interleave`` runs the baseline and every candidate in turn, repetition after repetition
(the order flipped every other repetition, so neither always runs right after the other),
and keeps every sample. A figure is printed as the median with its min and max; a ratio is
the median of the per-repetition ratios, so two runs taken seconds apart are compared, not
a quiet minute against a busy one. The JSON output keeps all repetitions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_REPS = 5


@dataclass(frozen=True, slots=True)
class Series:
    """Every repetition of one measurement, in run order."""

    samples: tuple[float, ...]
    unit: str = "s"

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("a series needs at least one sample")

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def min(self) -> float:
        return min(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)

    def scaled(self, factor: float, unit: str) -> Series:
        return Series(tuple(v * factor for v in self.samples), unit)

    def to_json(self, digits: int = 6) -> dict[str, Any]:
        return {
            "median": round(self.median, digits),
            "min": round(self.min, digits),
            "max": round(self.max, digits),
            "unit": self.unit,
            "samples": [round(v, digits) for v in self.samples],
        }

    def show(self, fmt: str = ".3g") -> str:
        """``median unit (min .. max, n reps)``."""
        return (
            f"{self.median:{fmt}} {self.unit} "
            f"(min {self.min:{fmt}}, max {self.max:{fmt}}, {len(self.samples)} reps)"
        )


def interleave(
    fns: Mapping[str, Callable[[], float]], reps: int = MIN_REPS, unit: str = "s", warmup: bool = True
) -> dict[str, Series]:
    """Call each function once per repetition, alternating, and keep every result.

    Each function returns one measurement (a time or a rate). ``warmup`` runs each once
    first, untimed: the first run pays for imports, caches and heap growth.
    """
    if reps < MIN_REPS:
        raise ValueError(f"at least {MIN_REPS} repetitions of each, got {reps}")
    names = list(fns)
    if warmup:
        for name in names:
            fns[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            samples[name].append(float(fns[name]()))
    return {name: Series(tuple(v), unit) for name, v in samples.items()}


def ratio(num: Series, den: Series) -> Series:
    """Per-repetition ratios ``num[i] / den[i]`` of two interleaved series."""
    if len(num.samples) != len(den.samples):
        raise ValueError("ratio of series of different lengths")
    return Series(tuple(a / b for a, b in zip(num.samples, den.samples, strict=True)), "x")


def timed(
    fn: Callable[[], object], number: int = 1, clock: Callable[[], float] = time.perf_counter
) -> Callable[[], float]:
    """A measurement: seconds per call of ``fn``, over ``number`` calls.

    ``clock=time.process_time`` times the process's CPU time instead of the wall clock: for
    work done entirely in this process, on a shared machine (not for work in child
    processes, such as mypy runs, which it would not see)."""
    def run() -> float:
        t0 = clock()
        for _ in range(number):
            fn()
        return (clock() - t0) / number

    return run


def machine() -> dict[str, Any]:
    """What a figure was measured on: core count and the load when it was taken."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = -1.0
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cores": os.cpu_count(),
        "load_1min": round(load, 2),
        "python": platform.python_version(),
    }


def to_json(series: Mapping[str, Series], digits: int = 6) -> dict[str, Any]:
    return {name: s.to_json(digits) for name, s in series.items()}


# Runs in a fresh interpreter: imports the target's module, calls it (or not, for the
# baseline), prints the process's peak resident set in KiB. On Linux that is VmHWM, the
# high-water mark of the process's own address space: ru_maxrss also counts the memory of
# the process that spawned it (Linux carries it over exec), so a child of a big process
# would report its parent's peak.
_PEAK_CHILD = """
import importlib, json, resource, sys
module, name = sys.argv[1].split(":")
fn = getattr(importlib.import_module(module), name)
if sys.argv[3] == "1":
    fn(*json.loads(sys.argv[2]))
try:
    with open("/proc/self/status") as f:
        print(next(int(l.split()[1]) for l in f if l.startswith("VmHWM:")))
except (OSError, StopIteration):
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(rss // 1024 if sys.platform == "darwin" else rss)  # bytes on macOS
"""


def _child_peak_mib(target: str, args: tuple[int | str | bool, ...], call: bool) -> float:
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, target, json.dumps(list(args)), "1" if call else "0"],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent,
    )
    return int(done.stdout.split()[-1]) / 1024


@dataclass(frozen=True, slots=True)
class Peak:
    """Peak resident memory of one workload in a fresh process, and of the same process
    importing the same modules without running it."""

    mib: float
    baseline_mib: float

    @property
    def above_baseline_mib(self) -> float:
        return self.mib - self.baseline_mib

    def show(self) -> str:
        return f"peak {self.mib:.1f} MiB ({self.above_baseline_mib:+.1f} MiB above imports alone)"

    def to_json(self) -> dict[str, float]:
        return {"peak_mib": round(self.mib, 1), "baseline_mib": round(self.baseline_mib, 1),
                "above_baseline_mib": round(self.above_baseline_mib, 1)}


def peak_memory(target: str, *args: int | str | bool) -> Peak:
    """Peak memory of calling ``module:function(*args)`` once, in a child process.

    The peak resident set of a fresh interpreter (``_PEAK_CHILD``): everything the process
    held at its peak (interpreter, imports, allocator slack), not only the Python objects
    ``tracemalloc`` would count, and nothing of the parent's own history. The
    baseline child imports the same module and returns, so the difference is the workload's.
    Peak memory does not move with the machine's load: one child each."""
    return Peak(_child_peak_mib(target, args, True), _child_peak_mib(target, args, False))
