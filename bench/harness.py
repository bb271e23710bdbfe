"""The measuring discipline every ``make bench`` module shares.

A figure is never one run: the machine is shared, and its load drifts during a benchmark.
``interleave`` runs the baseline and every candidate in turn, repetition after repetition
(the order flipped every other repetition, so neither always runs right after the other),
and keeps every sample. A figure is printed as the median with its min and max; a ratio is
the median of the per-repetition ratios, so two runs taken seconds apart are compared, not
a quiet minute against a busy one. The JSON output keeps all repetitions.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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


def timed(fn: Callable[[], object], number: int = 1) -> Callable[[], float]:
    """A measurement: seconds per call of ``fn``, over ``number`` calls."""
    def run() -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number

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
