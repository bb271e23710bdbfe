"""Compiler benchmark: load + parse + validate + project synthetic specs of 1k, 10k and 100k
interactions over 20 roles, with nested choices, counted loops and recs.

Run ``python -m bench.compiler`` (``--sizes 1000,10000`` to pick sizes). Prints one line per
size with the median time of each stage over interleaved repetitions (``bench.harness``), the
growth factor per 10x (median of per-repetition ratios), and a final JSON line keeping every
repetition. Goal (issue 15): 100k interactions in under 3 s, growth no worse than 11x per 10x.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from functools import partial

from bench import harness
from codegen.core.ast import Choice, Interaction, Loop, Parallel, Rec, Stmt
from codegen.core.gc import gc_paused
from codegen.frontend.load import load
from codegen.frontend.parse import parse
from codegen.frontend.validate import validate
from codegen.projection.project import project_all

ROLES = 20
MESSAGES = ("Data", "Ack", "Left", "Right", "Deep", "Shallow", "More", "Stop")


def _unit(i: int) -> list[str]:
    """One block of 18 interactions among four roles; every role not choosing is told."""
    a, b, c, d = (f"R{(i + k) % ROLES}" for k in (0, 1, 3, 7))
    x = f"X{i}"
    return f"""\
  - {a} -> {b}: Data
  - choice at {a}:
      left:
        - {a} -> {b}: Left
        - {b} -> {c}: Left
        - {c} -> {d}: Left
        - loop:
            count: 3
            do:
              - {c} -> {d}: Data
              - {d} -> {c}: Ack
        - choice at {b}:
            deep:
              - {b} -> {c}: Deep
              - {c} -> {d}: Deep
            shallow:
              - {b} -> {c}: Shallow
              - {c} -> {d}: Shallow
      right:
        - {a} -> {b}: Right
        - {b} -> {c}: Right
        - {c} -> {d}: Right
  - rec {x}:
      - choice at {a}:
          more:
            - {a} -> {d}: More
            - {a} -> {b}: More
            - {d} -> {b}: Data
            - continue {x}
          stop:
            - {a} -> {d}: Stop
            - {a} -> {b}: Stop
""".splitlines()


UNIT_INTERACTIONS = 18


def make_spec(interactions: int) -> str:
    units = max(1, -(-interactions // UNIT_INTERACTIONS))  # at least ``interactions``
    head = [
        "protocol: Bench",
        f"roles: [{', '.join(f'R{i}' for i in range(ROLES))}]",
        "messages:",
        *(f"  {m}: {{n: int}}" for m in MESSAGES),
        "interactions:",
    ]
    body: list[str] = []
    for i in range(units):
        body.extend(_unit(i))
    return "\n".join(head + body) + "\n"


def count_interactions(stmts: tuple[Stmt, ...]) -> int:
    total = 0
    stack: list[tuple[Stmt, ...]] = [stmts]
    while stack:
        for s in stack.pop():
            if isinstance(s, Interaction):
                total += 1
            elif isinstance(s, Choice):
                stack.extend(b.body for b in s.branches)
            elif isinstance(s, Rec | Loop):
                stack.append(s.body)
            elif isinstance(s, Parallel):
                stack.extend(s.branches)
    return total


def _measure(text: str) -> dict[str, float | int]:
    t0 = time.perf_counter()
    root, diags = load(text, "bench.yaml")
    t1 = time.perf_counter()
    assert root is not None, diags[:3]
    protocol, pdiags = parse(root, "bench.yaml")
    del root  # as compile_text does
    t2 = time.perf_counter()
    assert protocol is not None and not pdiags, pdiags[:3]
    vdiags = validate(protocol)
    t3 = time.perf_counter()
    locals_, prdiags = project_all(protocol)
    t4 = time.perf_counter()
    errors = [d for d in (*diags, *vdiags, *prdiags) if d.severity == "error"]
    assert not errors, [d.headline() for d in errors[:3]]
    assert len(locals_) == ROLES
    return {
        "interactions": count_interactions(protocol.body),
        "bytes": len(text),
        "load_s": t1 - t0,
        "parse_s": t2 - t1,
        "validate_s": t3 - t2,
        "project_s": t4 - t3,
        "total_s": t4 - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.compiler")
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated interaction counts")
    ap.add_argument("--reps", type=int, default=harness.MIN_REPS)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    texts = {n: make_spec(n) for n in sizes}
    stages: dict[int, list[dict[str, float | int]]] = {n: [] for n in sizes}

    def once(n: int) -> float:
        with gc_paused():  # as in compile_text: the stages run with the cycle collector paused
            stages[n].append(_measure(texts[n]))
        return float(stages[n][-1]["total_s"])

    runs = harness.interleave({str(n): partial(once, n) for n in sizes}, args.reps, warmup=False)
    results: list[dict[str, object]] = []
    for n in sizes:
        reps = stages[n]
        row: dict[str, object] = {"interactions": reps[0]["interactions"], "bytes": reps[0]["bytes"]}
        for key in ("load_s", "parse_s", "validate_s", "project_s", "total_s"):
            row[key] = harness.Series(tuple(float(r[key]) for r in reps)).to_json(4)
        results.append(row)
        med = {k: v["median"] for k, v in row.items() if isinstance(v, dict)}
        print(
            f"{row['interactions']:>7} interactions ({int(str(row['bytes'])) / 1e6:.1f} MB), medians: "
            f"load {med['load_s']:.3f}s  parse {med['parse_s']:.3f}s  validate {med['validate_s']:.3f}s  "
            f"project {med['project_s']:.3f}s  total {runs[str(n)].show('.3f')}"
        )
    growth: list[dict[str, float]] = []
    for small, big in itertools.pairwise(sizes):
        # Per-repetition ratios: each pair of sizes was measured back to back.
        g = harness.ratio(runs[str(big)], runs[str(small)])
        growth.append({"from": small, "to": big, "total": round(g.median, 2),
                       "total_min": round(g.min, 2), "total_max": round(g.max, 2)})
        print(f"growth {small} -> {big} (x{big / small:.1f}): total {g.show('.1f')}")
    last = runs[str(sizes[-1])].median
    goal_time = last < 3.0 if sizes[-1] >= 100_000 else None
    goal_growth = all(g["total"] <= 11.0 for g in growth)
    print(f"goal: 100k under 3 s: {goal_time}; growth <= 11x per 10x: {goal_growth}")
    print(json.dumps({"bench": "compiler", "machine": harness.machine(), "results": results,
                      "growth": growth, "goal_time": goal_time, "goal_growth": goal_growth}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
