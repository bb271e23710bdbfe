"""Verifier benchmark: ``minuet verify`` over every bundled spec.

Run ``python -m bench.verify`` (``--reps 3``, ``--sizes 1..4``). For each spec: the time of a
verification with the default reduction and of the full exploration (the baseline, in the
same run), each the median of interleaved repetitions (``bench.harness``; min and max in the JSON), the states each explores and the
states per second. A final line gives the totals and a JSON line the figures.
Goal: every bundled spec verifies in seconds with the reduction.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

from bench import harness
from codegen.analysis.verify import Bounds, VerifyReport, parse_range, verify_file

ROOT = Path(__file__).resolve().parents[1]


def _once(path: str, bounds: Bounds) -> tuple[float, VerifyReport]:
    t = time.perf_counter()
    report, diags = verify_file(path, bounds)
    elapsed = time.perf_counter() - t
    assert report is not None, diags[:3]
    return elapsed, report


def _num(v: object) -> float:
    assert isinstance(v, int | float)
    return float(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.verify")
    ap.add_argument("--reps", type=int, default=harness.MIN_REPS)
    ap.add_argument("--sizes", default="1..4", help="family sizes and parameter values, lo..hi")
    args = ap.parse_args(argv)
    values = parse_range(args.sizes)
    reduced = Bounds(sizes=values, params=values)
    full = Bounds(sizes=values, params=values, reduce=False)
    rows: list[dict[str, object]] = []
    for spec in sorted((ROOT / "protocols").rglob("*.yaml")):
        path = str(spec.relative_to(ROOT)) if spec.is_relative_to(ROOT) else str(spec)
        reports: dict[str, VerifyReport] = {}

        def once(
            name: str, bounds: Bounds, spec: Path = spec, reports: dict[str, VerifyReport] = reports
        ) -> float:
            t, reports[name] = _once(str(spec), bounds)
            return t

        runs = harness.interleave(  # interleaved, so drift hits both alike
            {"reduced": partial(once, "reduced", reduced), "full": partial(once, "full", full)},
            args.reps, warmup=False,
        )
        figures: dict[str, float] = {}
        for name in ("reduced", "full"):
            med = runs[name].median
            figures[f"{name}_s"] = med
            figures[f"{name}_min_s"] = runs[name].min
            figures[f"{name}_max_s"] = runs[name].max
            figures[f"{name}_states"] = reports[name].states
            figures[f"{name}_states_per_s"] = reports[name].states / med if med else 0.0
        outcome = reports["reduced"].outcome
        rows.append({"spec": path, "outcome": outcome, **figures})
        print(
            f"{path:<40} {outcome:<9} reduced {figures['reduced_s'] * 1e3:7.1f} ms "
            f"{figures['reduced_states']:>6.0f} states ({figures['reduced_states_per_s']:>8.0f}/s)   "
            f"full {figures['full_s'] * 1e3:7.1f} ms {figures['full_states']:>6.0f} states "
            f"({figures['full_states_per_s']:>8.0f}/s)"
        )
    tot_r = sum(_num(r["reduced_s"]) for r in rows)
    tot_f = sum(_num(r["full_s"]) for r in rows)
    st_r = sum(_num(r["reduced_states"]) for r in rows)
    st_f = sum(_num(r["full_states"]) for r in rows)
    print(
        f"total: reduced {tot_r:.3f} s, {st_r:.0f} states ({st_r / tot_r:.0f}/s); "
        f"full {tot_f:.3f} s, {st_f:.0f} states ({st_f / tot_f:.0f}/s); "
        f"reduction keeps {st_r / st_f:.2f} of the states, time ratio {tot_r / tot_f:.2f}"
    )
    all_ok = all(r["outcome"] == "verified" for r in rows)
    print(json.dumps({"bench": "verify", "sizes": args.sizes, "reps": args.reps, "rows": rows,
                      "all_verified": all_ok}))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
