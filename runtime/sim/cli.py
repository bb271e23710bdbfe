"""``minuet simulate`` and ``minuet trace`` (a thin shell over ``runtime.sim``).

    minuet simulate --scenario examples.sim_scenarios:frost --runs 500 --faults all
    minuet simulate --protocol generated.examples.two_buyer --role Buyer1=pkg.roles:buyer1 \\
                    --role Buyer2=pkg.roles:buyer2 --role Seller=pkg.roles:seller --runs 1000
    minuet simulate --scenario ... --seed 17 --trace run.jsonl --export run.scenario.json
    minuet simulate --replay run.scenario.json          (or a trace: simulation, memory, TCP)
    minuet trace run.jsonl [-o out.mmd]                 Mermaid sequence diagram
    minuet trace run.jsonl --at 12                      every member at step 12
    minuet trace run.jsonl --step                       walk it: Enter/n next, p back, N jump, q quit

Exit status: 0 every run held its invariants, 1 some seed failed (listed with its shrunk
fault schedule), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from runtime import trace_mermaid
from runtime.errors import ConfigError, MinuetError
from runtime.sim import timeline
from runtime.sim.core import FAULT_KINDS, POLICIES, FaultConfig, SimFault, trace_lines
from runtime.sim.scenario import (
    Invariant,
    Scenario,
    ScenarioFile,
    Verdict,
    deliveries_of,
    entries_scenario,
    load_object,
    load_scenario,
    read_scenario_file,
    run_one,
    shrink_failure,
    sweep,
)
from runtime.trace import read_trace

BANNER = (
    "minuet simulate: TEST MODE: every member's crypto randomness is derived from the seed; "
    "nothing drawn in a simulated run is secret\n"
)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="minuet simulate", description="deterministic simulation of a session")
    ap.add_argument("--scenario", help="MODULE:NAME of a runtime.sim.scenario.Scenario")
    ap.add_argument("--protocol", help="module defining PROTOCOL (with --role entries)")
    ap.add_argument("--role", action="append", default=[], metavar="MEMBER=MODULE:FUNCTION",
                    help="role entry like minuet run's --entry; a family name covers all its members")
    ap.add_argument("--pass", dest="pass_", choices=("auto", "state", "endpoint"), default="auto")
    ap.add_argument("--param", action="append", default=[], metavar="NAME=INT")
    ap.add_argument("--family", action="append", default=[], metavar="FAMILY=SIZE")
    ap.add_argument("--capability", action="append", default=[], metavar="ROLE=CAP")
    ap.add_argument("--timeout", type=float, default=30.0, help="virtual seconds (with --role)")
    ap.add_argument("--invariant", help="MODULE:FUNCTION called with each SimResult")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--seed", type=int, help="run this one seed")
    ap.add_argument("--policy", choices=POLICIES, default="random")
    ap.add_argument("--faults", default="none", help="none, all (the scenario's), or a list: drop,crash,...")
    ap.add_argument("--fault-rate", type=float, default=0.05)
    ap.add_argument("--max-faults", type=int, default=3)
    ap.add_argument("--schedule", help="JSON list of faults to apply instead of drawing them")
    ap.add_argument("--replay", help="scenario file, or trace (simulation, memory, TCP) to force")
    ap.add_argument("--trace", help="write the trace of the --seed / replayed run here")
    ap.add_argument("--export", help="write a scenario file that replays the --seed run")
    ap.add_argument("--mermaid", help="write the --seed run as a Mermaid sequence diagram")
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--show", type=int, default=5, help="failing seeds to print in full")
    ap.add_argument("--progress", action="store_true", help="progress bar even when not a terminal")
    ap.add_argument("--path", action="append", default=[], help="prepend to sys.path")
    return ap


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for it in items:
        k, sep, v = it.partition("=")
        if not sep or not k or not v:
            raise ConfigError(f"{what} takes NAME=VALUE, got {it!r}")
        out[k] = v
    return out


def _ints(items: list[str], what: str) -> dict[str, int]:
    out = {}
    for k, v in _pairs(items, what).items():
        try:
            out[k] = int(v)
        except ValueError:
            raise ConfigError(f"{what} {k}={v}: not an integer") from None
    return out


def _scenario(args: argparse.Namespace, fallback: str | None = None) -> tuple[Scenario, str | None]:
    inv: Invariant | None = None
    if args.invariant:
        obj = load_object(args.invariant, "--invariant")
        if not callable(obj):
            raise ConfigError(f"--invariant {args.invariant}: not callable")
        inv = obj
    if args.scenario or (fallback and not args.protocol):
        spec = args.scenario or fallback
        assert spec is not None
        sc = load_scenario(spec)
        if inv is not None:
            sc = Scenario(sc.name, sc.session, sc.roles, inv, sc.byzantine, sc.max_byzantine, sc.faults)
        return sc, spec
    if not args.protocol or not args.role:
        raise ConfigError("give --scenario MODULE:NAME, or --protocol MODULE and --role entries")
    caps: dict[str, list[str]] = {}
    for k, v in _pairs(args.capability, "--capability").items():
        caps.setdefault(k, []).append(v)
    sc = entries_scenario(
        args.protocol, _pairs(args.role, "--role"), params=_ints(args.param, "--param"),
        families=_ints(args.family, "--family"), timeout=args.timeout, pass_=args.pass_,
        capabilities=caps, invariant=inv,
    )
    return sc, None


def _fault_config(args: argparse.Namespace, sc: Scenario) -> FaultConfig:
    if args.faults == "none":
        kinds: tuple[str, ...] = ()
    elif args.faults == "all":
        kinds = sc.faults
    else:
        kinds = tuple(k.strip() for k in args.faults.split(",") if k.strip())
        bad = [k for k in kinds if k not in FAULT_KINDS]
        if bad:
            raise ConfigError(f"--faults: unknown {', '.join(bad)} (one of {', '.join(FAULT_KINDS)})")
    return FaultConfig(kinds, args.fault_rate, args.max_faults)


def _progress(done: int, total: int, failing: int, err: TextIO) -> None:
    width = 30
    filled = width * done // max(1, total)
    err.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} seeds, {failing} failing")
    if done == total:
        err.write("\n")
    err.flush()


def _report(v: Verdict, out: TextIO) -> None:
    out.write(f"seed {v.seed}: FAILED after {v.result.steps} steps\n")
    for f in v.failures:
        out.write(f"  - {f}\n")
    if v.result.faults:
        out.write("  faults: " + "; ".join(f.describe() for f in v.result.faults) + "\n")


def _write_outputs(args: argparse.Namespace, v: Verdict, spec: str | None, policy: str, out: TextIO) -> None:
    if args.trace:
        Path(args.trace).write_text(trace_lines(v.result.trace), encoding="utf-8")
        out.write(f"trace: {args.trace}\n")
    if args.mermaid:
        Path(args.mermaid).write_text(trace_mermaid.render(v.result.trace), encoding="utf-8")
        out.write(f"mermaid: {args.mermaid}\n")
    if args.export:
        if spec is None:
            raise ConfigError("--export needs --scenario MODULE:NAME (a scenario file names it)")
        sf = ScenarioFile(spec, v.seed, policy, tuple(v.result.faults), deliveries_of(v.result.trace))
        Path(args.export).write_text(sf.to_json(), encoding="utf-8")
        out.write(f"scenario: {args.export}\n")


def _schedule(text: str | None) -> list[SimFault] | None:
    if text is None:
        return None
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"--schedule: not JSON: {e}") from None
    if not isinstance(obj, list):
        raise ConfigError("--schedule must be a JSON list of faults")
    return [SimFault.from_json(f, f"--schedule[{i}]") for i, f in enumerate(obj)]


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    path = Path(args.replay)
    if path.suffix == ".json":
        sf = read_scenario_file(path)
        sc, spec = _scenario(args, sf.scenario)
        v = run_one(sc, sf.seed, policy=sf.policy, schedule=list(sf.faults), forced=sf.deliveries,
                    header={"scenario": spec} if spec else None)
    else:
        try:
            events = read_trace(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"--replay {path}: {e}") from None
        try:
            head, seed, policy, faults, forced = _recording(events, args.seed)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ConfigError(f"--replay {path}: not a usable trace ({type(e).__name__}: {e})") from None
        sc, spec = _scenario(args, str(head["scenario"]) if head and "scenario" in head else None)
        v = run_one(sc, seed, policy=policy, schedule=faults, forced=forced,
                    header={"scenario": spec} if spec else None)
    out.write(f"replayed {args.replay}: {v.result.steps} steps, " + ("ok\n" if v.ok else "FAILED\n"))
    if not v.ok:
        _report(v, out)
    _write_outputs(args, v, spec, v.result.trace[0].get("policy", "random"), out)
    return 0 if v.ok else 1


def _recording(
    events: list[dict[str, Any]], seed: int | None,
) -> tuple[dict[str, Any] | None, int, str, list[SimFault], tuple[tuple[str, str], ...]]:
    """What a recorded trace fixes: its header, seed, policy, fault schedule and delivery
    order (a memory/TCP trace: only the order; FIFO for anything it does not list)."""
    head = next((e for e in events if e.get("kind") == "header"), None)
    if head is None:
        return None, seed if seed is not None else 0, "fifo", [], deliveries_of(events)
    faults = [SimFault("byzantine", 0, str(r), mode=str(m)) for r, m in sorted(head.get("byzantine", {}).items())]
    faults += [SimFault.from_json(e["fault"]) for e in events if e.get("kind") == "fault"]
    return head, int(head["seed"]), str(head.get("policy", "random")), faults, deliveries_of(events)


def _main(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # Scenarios and role entries usually live in the project: import them from the current
    # directory as ``python -m`` would.
    for p in [*reversed(args.path), ""]:
        if p not in sys.path:
            sys.path.insert(0, p)
    err.write(BANNER)
    if args.replay:
        return _replay(args, out)
    sc, spec = _scenario(args)
    faults = _fault_config(args, sc)
    header: dict[str, Any] = {"scenario": spec} if spec else {}
    schedule = _schedule(args.schedule)
    if args.seed is not None:
        v = run_one(sc, args.seed, policy=args.policy, faults=faults, schedule=schedule, header=header)
        out.write(f"seed {args.seed}: {v.result.steps} steps, " + ("ok\n" if v.ok else "FAILED\n"))
        if not v.ok:
            _report(v, out)
            if not args.no_shrink and v.result.faults:
                _shrunk(sc, v, args.policy, out)
        _write_outputs(args, v, spec, args.policy, out)
        return 0 if v.ok else 1
    if args.runs < 1:
        raise ConfigError("--runs must be at least 1")
    show = args.progress or err.isatty()
    seeds = range(args.first_seed, args.first_seed + args.runs)
    done = [0, 0]  # seeds run, failing

    def progress(v: Verdict) -> None:
        done[0] += 1
        done[1] += not v.ok
        if show and (done[0] == args.runs or done[0] % max(1, args.runs // 100) == 0):
            _progress(done[0], args.runs, done[1], err)

    failing = sweep(sc, seeds, policy=args.policy, faults=faults, schedule=schedule, header=header,
                    on_verdict=progress)
    out.write(f"{sc.name}: {args.runs} seeds ({args.first_seed}..{seeds[-1]}), policy {args.policy}, "
              f"faults {','.join(faults.kinds) or 'none'}: {len(failing)} failing\n")
    for i, v in enumerate(failing):
        if i < args.show:
            _report(v, out)
            if not args.no_shrink and v.result.faults:
                _shrunk(sc, v, args.policy, out)
    if failing:
        out.write("failing seeds: " + " ".join(str(v.seed) for v in failing) + "\n")
        out.write(f"reproduce one: minuet simulate ... --seed {failing[0].seed} --trace run.jsonl\n")
    return 1 if failing else 0


def _shrunk(sc: Scenario, v: Verdict, policy: str, out: TextIO) -> None:
    minimal, final = shrink_failure(sc, v, policy=policy)
    text = json.dumps([f.to_json() for f in minimal], sort_keys=True)
    out.write(f"  shrunk to {len(minimal)} of {len(v.result.faults)} faults: {text}\n")
    if final.failures:
        out.write(f"    which fails with: {final.failures[0]}\n")


def simulate_main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    try:
        return _main(args, out, err)
    except ConfigError as e:
        err.write(f"minuet simulate: {e}\n")
        return 2
    except MinuetError as e:
        err.write(f"minuet simulate: {type(e).__name__}: {e}\n")
        return 2


# ---------------------------------------------------------------------- minuet trace


def trace_main(argv: Sequence[str], out: TextIO | None = None, err: TextIO | None = None,
               inp: TextIO | None = None) -> int:
    out, err, inp = out or sys.stdout, err or sys.stderr, inp or sys.stdin
    ap = argparse.ArgumentParser(prog="minuet trace", description="show a recorded trace")
    ap.add_argument("traces", nargs="+")
    ap.add_argument("-o", "--output", help="write the Mermaid diagram here")
    ap.add_argument("--at", type=int, help="every member's state at this step")
    ap.add_argument("--step", action="store_true", help="walk the trace step by step")
    ap.add_argument("--root", help="where the spec files are (default: the current directory)")
    try:
        args = ap.parse_args(list(argv))
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.at is None and not args.step:
        return trace_mermaid.main(list(argv))
    events: list[dict[str, Any]] = []
    try:
        for path in args.traces:
            events += read_trace(path)
    except (OSError, ValueError) as e:
        err.write(f"minuet trace: {e}\n")
        return 2
    root = Path(args.root) if args.root else None
    try:
        if not args.step:
            out.write(timeline.render(timeline.at(events, args.at), root))
            return 0
        return _walk(events, args.at or 0, root, out, inp)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        err.write(f"minuet trace: {', '.join(args.traces)}: not a usable trace ({type(e).__name__}: {e})\n")
        return 2


def _walk(events: list[dict[str, Any]], k: int, root: Path | None, out: TextIO, inp: TextIO) -> int:
    last = timeline.last_step(timeline.normalise(events))
    while True:
        out.write(timeline.render(timeline.at(events, k), root))
        out.write("[Enter/n] next  [p] back  [N] go to step N  [q] quit > ")
        out.flush()
        line = inp.readline()
        if not line:
            out.write("\n")
            return 0
        cmd = line.strip().lower()
        if cmd in ("q", "quit"):
            return 0
        if cmd in ("p", "b", "back"):
            k = max(0, k - 1)
        elif cmd.isdigit():
            k = min(int(cmd), last)
        else:
            k = min(k + 1, last)
