"""Code generation benchmark: ``python -m bench.codegen [--quick] [--mypy-10k]``.

Measures (wall clock, best of a few runs for the fast parts):

* generation (compile + project + build state machines + render) of every bundled spec
  under protocols/, and of synthetic specs with about 100, 1k and 10k states;
* ``mypy --strict`` with a cold cache (fresh ``--cache-dir`` in a temp dir) on the generated
  modules of 100 and 1k states (10k with ``--mypy-10k``), next to the cost of a trivial
  module, which is mypy's fixed start-up + runtime/ + typeshed cost;
* the growth factor per 10x states (1.0x per 10x would be constant, 10x linear).

Prints human-readable lines, then one JSON line with every number.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from codegen.check import run_mypy
from codegen.pipeline import compile_text
from codegen.render import render_module

REPO_ROOT = Path(__file__).resolve().parent.parent


def synthetic_spec(states: int) -> str:
    """A two-role spec whose generated module has about ``states`` state classes.

    A chain of interactions in both directions, with a two-way choice every 10 steps (so
    offers, variants and selects are part of the mix), over a handful of message types.
    Each interaction gives one state to each role; a choice gives 2 + 2 per role.
    """
    lines = [
        f"protocol: Synthetic{states}",
        f"namespace: bench_synthetic_{states}",
        "roles: [Alice, Bob]",
        "messages:",
        "  Num: {value: int}",
        "  Text: {value: str}",
        "  Blob: {data: bytes, tags: \"list[str]\"}",
        "  Maybe: {value: \"optional[int]\"}",
        "  Go: {}",
        "  Stop: {}",
        "interactions:",
    ]
    kinds = ["Num", "Text", "Blob", "Maybe"]
    made = 0
    step = 0
    while made < states:
        if step % 10 == 9:
            lines += [
                "  - choice at Alice:",
                "      go:",
                "        - Alice -> Bob: Go",
                "      stop:",
                "        - Alice -> Bob: Stop",
            ]
            made += 6
        else:
            a, b = ("Alice", "Bob") if step % 2 == 0 else ("Bob", "Alice")
            lines.append(f"  - {a} -> {b}: {kinds[step % len(kinds)]}")
            made += 2
        step += 1
    return "\n".join(lines) + "\n"


def generate(text: str, filename: str) -> tuple[str, int]:
    compiled = compile_text(text, filename)
    if not compiled.ok or compiled.protocol is None:
        raise SystemExit(f"{filename}: does not compile: {[d.headline() for d in compiled.errors][:3]}")
    module = render_module(compiled.protocol, compiled.locals, filename)
    return module, module.count("(_rt.State):")


def best_of(runs: int, f: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def mypy_cold(module_text: str) -> tuple[float, int]:
    """Seconds for one cold-cache ``mypy --strict`` of ``module_text``; and its error count."""
    with tempfile.TemporaryDirectory(prefix="minuet-bench-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        target = src / "bench_module.py"
        target.write_text(module_text, encoding="utf-8")
        t0 = time.perf_counter()
        result = run_mypy([target], cache_dir=Path(tmp) / "cache", search_path=(REPO_ROOT, src))
        elapsed = time.perf_counter() - t0
    return elapsed, len(result.errors)


def growth(a: float, b: float) -> float | None:
    return round(b / a, 2) if a > 0 and b > 0 else None


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.codegen", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10k-state generation and use 1 run each")
    ap.add_argument("--mypy-10k", action="store_true", help="also time mypy on the 10k-state module")
    args = ap.parse_args(argv)
    runs = 1 if args.quick else 3
    out: dict[str, object] = {"bench": "codegen", "python": sys.version.split()[0]}

    # Bundled specs.
    specs = sorted((REPO_ROOT / "protocols").rglob("*.yaml"))
    texts = [(p.read_text(encoding="utf-8"), p.relative_to(REPO_ROOT).as_posix()) for p in specs]
    bundled = best_of(runs, lambda: [generate(t, f) for t, f in texts])
    states_bundled = sum(generate(t, f)[1] for t, f in texts)
    print(f"generate {len(specs)} bundled specs ({states_bundled} states): {bundled * 1000:.1f} ms")
    out["bundled"] = {"specs": len(specs), "states": states_bundled, "generate_s": round(bundled, 4)}

    # Synthetic specs.
    sizes = [100, 1000] if args.quick else [100, 1000, 10000]
    gen: dict[int, float] = {}
    modules: dict[int, str] = {}
    synth: dict[str, object] = {}
    for n in sizes:
        text = synthetic_spec(n)
        name = f"bench/synthetic_{n}.yaml"
        module, count = generate(text, name)
        modules[n] = module
        gen[n] = best_of(runs if n < 10000 else 1, lambda t=text, f=name: generate(t, f))  # type: ignore[misc]
        lines = module.count("\n")
        print(f"generate synthetic {n:>5} ({count} states, {lines} lines): {gen[n] * 1000:8.1f} ms"
              f"  ({gen[n] / count * 1e6:.0f} us/state)")
        synth[str(n)] = {"states": count, "lines": lines, "generate_s": round(gen[n], 4)}
    for lo, hi in itertools.pairwise(sizes):
        print(f"generation growth {lo} -> {hi}: {fmt(growth(gen[lo], gen[hi]))} per 10x states")
        synth[f"generate_growth_{lo}_{hi}"] = growth(gen[lo], gen[hi])

    # mypy --strict, cold cache.
    # The fixed cost: a module importing what every generated module imports (typeshed and
    # runtime/ get checked too). The first run also pays for importing mypy: discarded.
    trivial = "import runtime.codec\nimport runtime.contract\nimport runtime.errors\nimport runtime.linear\n"
    mypy_cold(trivial)
    baseline = min(mypy_cold(trivial)[0] for _ in range(runs))
    print(f"mypy --strict cold, module importing runtime/ only (fixed cost): {baseline:.2f} s")
    out["mypy_baseline_s"] = round(baseline, 3)
    mypy_sizes = [n for n in sizes if n < 10000 or args.mypy_10k]
    mypy_t: dict[int, float] = {}
    for n in mypy_sizes:
        timings = [mypy_cold(modules[n]) for _ in range(runs if n < 10000 else 1)]
        mypy_t[n], errors = min(t for t, _ in timings), timings[0][1]
        print(f"mypy --strict cold, {n:>5}-state module: {mypy_t[n]:.2f} s ({errors} errors)"
              f"; minus fixed cost {mypy_t[n] - baseline:.2f} s")
        synth[f"mypy_{n}_s"] = round(mypy_t[n], 3)
        synth[f"mypy_{n}_errors"] = errors
    for lo, hi in itertools.pairwise(mypy_sizes):
        total = growth(mypy_t[lo], mypy_t[hi])
        net = growth(mypy_t[lo] - baseline, mypy_t[hi] - baseline)
        print(f"mypy growth {lo} -> {hi}: {fmt(total)} per 10x states ({fmt(net)} without the fixed cost)")
        synth[f"mypy_growth_{lo}_{hi}"] = total
        synth[f"mypy_growth_net_{lo}_{hi}"] = net
    if 1000 in mypy_t:
        verdict = "under" if mypy_t[1000] < 10 else "OVER"
        print(f"goal: mypy on the 1k-state module {verdict} 10 s")
    out["synthetic"] = synth
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
