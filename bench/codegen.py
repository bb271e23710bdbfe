"""Code generation benchmark: ``python -m bench.codegen [--quick] [--mypy-10k]``.

Measures (wall clock, the median of interleaved repetitions with min and max, ``bench.harness``):

* generation (compile + project + build state machines + render) of every bundled spec
  under protocols/, and of synthetic specs with about 100, 1k and 10k states;
* ``mypy --strict`` with a cold cache (fresh ``--cache-dir`` in a temp dir) on the generated
  modules of 100 and 1k states (10k with ``--mypy-10k``), next to the cost of a trivial
  module, which is mypy's fixed start-up + runtime/ + typeshed cost;
* the growth factor per 10x states (1.0x per 10x would be constant, 10x linear);
* peak memory of ``minuet generate`` writing the module of the compiler benchmark's spec of
  100k interactions (``bench.compiler``, 20 roles), as the peak resident set (VmHWM) of a
  fresh child process, beside a child generating the smallest bundled spec (the interpreter and imports);
  goal (issue 15) <= 300 MB. ``--quick`` uses 10k interactions instead.

Prints human-readable lines, then one JSON line with every number.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import compiler, harness
from codegen.backend.check import run_mypy
from codegen.backend.render import render_module
from codegen.pipeline import compile_text

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


# A child process runs `minuet generate` and prints its own peak resident set size in KiB:
# VmHWM, whose count starts at the exec. (Linux's ru_maxrss of a child starts from its
# parent's peak when forked, so it would show the benchmark's own size.)
_PEAK_CHILD = (
    "import resource, sys\n"
    "from codegen.generate import main\n"
    "rc = main([sys.argv[1], '--out', sys.argv[2]])\n"
    "try:\n"
    "    with open('/proc/self/status') as f:\n"
    "        kib = next(int(line.split()[1]) for line in f if line.startswith('VmHWM:'))\n"
    "except OSError:\n"
    "    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "print(kib, flush=True)\n"
    "sys.exit(rc)\n"
)


def peak_generate_mib(spec: Path) -> float:
    """Peak memory (MiB) of a fresh process generating ``spec`` into an empty folder."""
    with tempfile.TemporaryDirectory(prefix="minuet-bench-") as tmp:
        done = subprocess.run([sys.executable, "-c", _PEAK_CHILD, str(spec), str(Path(tmp) / "out")],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"generate {spec} failed:\n{done.stderr}")
        return int(done.stdout.split()[-1]) / 1024


def growth(a: float, b: float) -> float | None:
    return round(b / a, 2) if a > 0 and b > 0 else None


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.1f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.codegen", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 10k-state generation")
    ap.add_argument("--mypy-10k", action="store_true", help="also time mypy on the 10k-state module")
    ap.add_argument("--reps", type=int, default=harness.MIN_REPS)
    args = ap.parse_args(argv)
    reps = args.reps
    out: dict[str, object] = {"bench": "codegen", "machine": harness.machine()}

    specs = sorted((REPO_ROOT / "protocols").rglob("*.yaml"))
    texts = [(p.read_text(encoding="utf-8"), p.relative_to(REPO_ROOT).as_posix()) for p in specs]
    states_bundled = sum(generate(t, f)[1] for t, f in texts)
    sizes = [100, 1000] if args.quick else [100, 1000, 10000]
    synthetic = {n: synthetic_spec(n) for n in sizes}
    modules = {n: generate(synthetic[n], f"bench/synthetic_{n}.yaml") for n in sizes}
    gen_fns: dict[str, Callable[[], float]] = {
        "bundled": harness.timed(lambda: [generate(t, f) for t, f in texts])
    }
    for n in sizes:
        gen_fns[str(n)] = harness.timed(partial(generate, synthetic[n], f"bench/synthetic_{n}.yaml"))
    gen = harness.interleave(gen_fns, reps, warmup=False)  # the states were generated above
    print(f"generate {len(specs)} bundled specs ({states_bundled} states): "
          f"{gen['bundled'].scaled(1e3, 'ms').show('.1f')}")
    out["bundled"] = {"specs": len(specs), "states": states_bundled,
                      "generate_s": gen["bundled"].to_json(4)}
    synth: dict[str, object] = {}
    for n in sizes:
        module, count = modules[n]
        lines = module.count("\n")
        interactions = synthetic[n].count(" -> ")
        g = gen[str(n)]
        print(f"generate synthetic {n:>5} ({count} states, {interactions} interactions, {lines} lines,"
              f" {lines / interactions:.1f} lines per interaction, goal <= 20): "
              f"{g.scaled(1e3, 'ms').show('.1f')}  ({g.median / count * 1e6:.0f} us/state)")
        synth[str(n)] = {"states": count, "interactions": interactions, "lines": lines,
                         "lines_per_interaction": round(lines / interactions, 2),
                         "generate_s": g.to_json(4)}
    for lo, hi in itertools.pairwise(sizes):
        r = harness.ratio(gen[str(hi)], gen[str(lo)])
        print(f"generation growth {lo} -> {hi}: {r.show('.1f')} per 10x states")
        synth[f"generate_growth_{lo}_{hi}"] = r.to_json(2)

    # mypy --strict, cold cache. The fixed cost: a module importing what every generated
    # module imports (typeshed and runtime/ get checked too). The first run also pays for
    # importing mypy: discarded.
    trivial = "import runtime.codec\nimport runtime.contract\nimport runtime.errors\nimport runtime.linear\n"
    mypy_sizes = [n for n in sizes if n < 10000 or args.mypy_10k]
    errors: dict[int, int] = {}

    def check(n: int) -> float:
        t, errors[n] = mypy_cold(modules[n][0])
        return t

    mypy_fns: dict[str, Callable[[], float]] = {"baseline": lambda: mypy_cold(trivial)[0]}
    mypy_fns.update({str(n): partial(check, n) for n in mypy_sizes})
    mypy_cold(trivial)
    mt = harness.interleave(mypy_fns, reps, warmup=False)
    baseline = mt["baseline"]
    print(f"mypy --strict cold, module importing runtime/ only (fixed cost): {baseline.show('.2f')}")
    out["mypy_baseline_s"] = baseline.to_json(3)
    for n in mypy_sizes:
        m = mt[str(n)]
        print(f"mypy --strict cold, {n:>5}-state module: {m.show('.2f')} ({errors[n]} errors)"
              f"; minus fixed cost {m.median - baseline.median:.2f} s")
        synth[f"mypy_{n}_s"] = m.to_json(3)
        synth[f"mypy_{n}_errors"] = errors[n]
    for lo, hi in itertools.pairwise(mypy_sizes):
        total = harness.ratio(mt[str(hi)], mt[str(lo)])
        net = growth(mt[str(lo)].median - baseline.median, mt[str(hi)].median - baseline.median)
        print(f"mypy growth {lo} -> {hi}: {total.show('.1f')} per 10x states "
              f"({fmt(net)} without the fixed cost)")
        synth[f"mypy_growth_{lo}_{hi}"] = total.to_json(2)
        synth[f"mypy_growth_net_{lo}_{hi}"] = net
    if "1000" in mt:
        verdict = "under" if mt["1000"].median < 10 else "OVER"
        print(f"goal: mypy on the 1k-state module {verdict} 10 s")

    # Peak memory of generation, each figure from a fresh process (interleaved as the rest).
    interactions = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="minuet-bench-") as tmp:
        big = Path(tmp) / "bench.yaml"
        big.write_text(compiler.make_spec(interactions), encoding="utf-8")
        small = min(specs, key=lambda p: p.stat().st_size)
        peak = harness.interleave({"floor": partial(peak_generate_mib, small), "big": partial(peak_generate_mib, big)},
                                  reps, unit="MiB", warmup=False)
    print(f"generate peak memory (peak RSS of a child process), smallest bundled spec ({small.name}): "
          f"{peak['floor'].show('.0f')}")
    print(f"generate peak memory, {interactions} interactions over {compiler.ROLES} roles: "
          f"{peak['big'].show('.0f')}"
          + ("" if args.quick else f"; goal <= 300 MB (286 MiB): {'met' if peak['big'].median <= 286 else 'NOT met'}"))
    out["generate_peak_mib"] = {"interactions": interactions, "floor": peak["floor"].to_json(1),
                               "big": peak["big"].to_json(1)}
    out["synthetic"] = synth
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
