"""The benchmark harness: interleaving, all samples kept, per-repetition ratios."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from bench import harness


def test_interleave_alternates_and_keeps_every_repetition() -> None:
    calls: list[str] = []

    def make(name: str, value: float) -> Callable[[], float]:
        def fn() -> float:
            calls.append(name)
            return value + len(calls)

        return fn

    runs = harness.interleave({"base": make("base", 0.0), "cand": make("cand", 100.0)}, 5)
    # One warm-up of each, then the order flips every repetition.
    assert calls == ["base", "cand"] + ["base", "cand", "cand", "base"] * 2 + ["base", "cand"]
    assert [len(s.samples) for s in runs.values()] == [5, 5]
    assert runs["base"].samples == (3.0, 6.0, 7.0, 10.0, 11.0)
    assert runs["base"].median == 7.0 and runs["base"].min == 3.0 and runs["base"].max == 11.0


def test_fewer_than_five_repetitions_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 5"):
        harness.interleave({"a": lambda: 1.0}, 4)


def test_ratio_is_taken_per_repetition() -> None:
    num = harness.Series((2.0, 10.0, 3.0, 4.0, 5.0))
    den = harness.Series((1.0, 10.0, 1.0, 2.0, 5.0))
    r = harness.ratio(num, den)
    assert r.samples == (2.0, 1.0, 3.0, 2.0, 1.0) and r.unit == "x"
    assert r.median == 2.0  # the ratio of medians would be 4/2 = 2 too, but min/max differ
    assert (r.min, r.max) == (1.0, 3.0)
    with pytest.raises(ValueError):
        harness.ratio(num, harness.Series((1.0,)))


def test_json_keeps_samples_and_show_prints_median_min_max() -> None:
    s = harness.Series((0.5, 0.1, 0.3, 0.2, 0.4), "s")
    doc = json.loads(json.dumps(harness.to_json({"x": s})))
    assert doc["x"]["samples"] == [0.5, 0.1, 0.3, 0.2, 0.4]
    assert (doc["x"]["median"], doc["x"]["min"], doc["x"]["max"]) == (0.3, 0.1, 0.5)
    assert s.show(".1f") == "0.3 s (min 0.1, max 0.5, 5 reps)"
    assert s.scaled(1e3, "ms").median == pytest.approx(300.0)


def test_peak_memory_is_the_workload_above_a_child_that_only_imports() -> None:
    # os.urandom(n) touches all n bytes, so they count in the resident set.
    peak = harness.peak_memory("os:urandom", 40 << 20)
    assert peak.above_baseline_mib >= 35
    assert peak.mib == peak.baseline_mib + peak.above_baseline_mib
    assert peak.to_json()["above_baseline_mib"] >= 35
    assert "MiB above imports alone" in peak.show()


def test_timed_reads_the_clock_it_is_given() -> None:
    ticks = iter([10.0, 16.0])
    run = harness.timed(lambda: None, 3, clock=lambda: next(ticks))
    assert run() == 2.0
