"""Simulation benchmarks: ``python -m bench.sim`` (part of ``make bench``).

* FROST 3-of-5 (three signers and the coordinator, ``examples.sim_scenarios.frost``):
  simulated sessions per second, against the same role programs on the memory transport in
  the same process (sessions one after another in one trio run, both). The ratio is the
  cost of simulation: a seeded choice and a trace record per delivery, one scheduler round
  per delivery instead of whole batches, virtual time.
* Two-buyer: wall time of 10,000 seeds (random policy; and with faults drawn at 5% a step),
  the issue's target being under a minute on this machine.

Medians of interleaved repetitions; keys are dealt once, outside the timings.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

import trio

from examples import sim_scenarios as ss
from runtime.memory import memory_session
from runtime.sim.core import FaultConfig
from runtime.sim.scenario import Scenario, Verdict, sweep

FROST_SESSIONS = 100
TWO_BUYER_SEEDS = 10_000
REPEATS = 5


def memory_rate(sc: Scenario, n: int) -> float:
    spec = sc.session

    async def main() -> None:
        for _ in range(n):
            async with memory_session(
                spec.protocol, spec.params, spec.families, timeout=spec.timeout,
                capabilities=spec.capabilities,
            ) as net:
                results = await net.run(sc.roles({}))
            assert all(r.ok for r in results.values())

    t = time.perf_counter()
    trio.run(main)
    return n / (time.perf_counter() - t)


def sim_rate(sc: Scenario, n: int, faults: FaultConfig | None = None, first: int = 0) -> float:
    bad: list[Verdict] = []
    t = time.perf_counter()
    bad = sweep(sc, range(first, first + n), faults=faults)
    elapsed = time.perf_counter() - t
    if faults is None:
        assert not bad, [v.failures for v in bad[:3]]
    return n / elapsed


def _median_interleaved(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            samples[k].append(fn())
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> dict[str, float]:
    ss.frost.roles({})  # deal the test key once
    frost = _median_interleaved({
        "memory": lambda: memory_rate(ss.frost, FROST_SESSIONS),
        "sim": lambda: sim_rate(ss.frost, FROST_SESSIONS),
    }, REPEATS)
    out = {
        "frost_3of5_memory_sessions_per_s": round(frost["memory"], 1),
        "frost_3of5_sim_sessions_per_s": round(frost["sim"], 1),
        "frost_sim_cost_vs_memory": round(frost["memory"] / frost["sim"], 2),
    }
    tb = _median_interleaved({
        "memory": lambda: memory_rate(ss.two_buyer, 1000),
        "sim": lambda: sim_rate(ss.two_buyer, 1000),
    }, REPEATS)
    out["two_buyer_memory_sessions_per_s"] = round(tb["memory"], 1)
    out["two_buyer_sim_sessions_per_s"] = round(tb["sim"], 1)
    out["two_buyer_sim_cost_vs_memory"] = round(tb["memory"] / tb["sim"], 2)
    t = time.perf_counter()
    sim_rate(ss.two_buyer, TWO_BUYER_SEEDS)
    out["two_buyer_10000_seeds_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    sim_rate(ss.two_buyer, TWO_BUYER_SEEDS, FaultConfig(ss.two_buyer.faults, 0.05, 3))
    out["two_buyer_10000_seeds_with_faults_s"] = round(time.perf_counter() - t, 2)
    return out


if __name__ == "__main__":
    result = main()
    print(json.dumps({"bench": "sim", **result}, indent=1))
    sys.exit(0)
