"""What to simulate and what must hold: ``Scenario``, the invariants, seed sweeps, shrinking,
role entries given like ``minuet run`` (MODULE:FUNCTION), and scenario files that replay a run.

A scenario file (JSON) pins one run: where the scenario comes from, its seed and policy, the
exact fault schedule and, optionally, the delivery order to force::

    {"format": "minuet-scenario/1", "scenario": "examples.sim_scenarios:two_buyer",
     "seed": 7, "policy": "random", "faults": [{"kind": "drop", "step": 3}],
     "deliveries": [["Buyer1", "Seller"], ["Seller", "Buyer1"], ...]}
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from runtime.contract import ProtocolInfo
from runtime.errors import ConfigError, MinuetError
from runtime.memory import RoleFn
from runtime.session_core import SessionInfo
from runtime.sim.core import FaultConfig, SimFault, shrink
from runtime.sim.network import (
    RolesFactory,
    SessionSpec,
    SimHang,
    SimResult,
    simulate,
    simulate_many,
)

SCENARIO_FORMAT: Final = "minuet-scenario/1"

# A user invariant over one run: raise (AssertionError or any error) or return False or a
# message to say it does not hold; None or True says it holds.
Invariant = Callable[[SimResult], object]


@dataclass(frozen=True)
class Scenario:
    """A session to simulate: its protocol and size, the role programs (built per run from
    the Byzantine members the seed picked), and what must hold at the end."""

    name: str
    session: SessionSpec
    roles: RolesFactory
    invariant: Invariant | None = None
    byzantine: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # behaviour -> members
    max_byzantine: int = 0
    faults: tuple[str, ...] = ("drop", "delay", "duplicate", "corrupt", "crash", "partition")


@dataclass
class Verdict:
    seed: int
    failures: list[str]
    result: SimResult

    @property
    def ok(self) -> bool:
        return not self.failures


def check(scenario: Scenario, result: SimResult, policy: str = "random") -> list[str]:
    """Every invariant that does not hold for ``result``, as one line each."""
    out: list[str] = []
    if result.diverged:
        out.append(f"replay diverged: {result.diverged}")
    for name, r in sorted(result.results.items()):
        e = r.error
        if isinstance(e, SimHang):
            out.append(f"hang: {e}")
        elif e is not None and not isinstance(e, MinuetError):
            out.append(f"{name} ended with an untyped error: {type(e).__name__}: {e}")
    clean = not result.faults and policy != "starve"
    if clean and not out:
        for name, r in sorted(result.results.items()):
            if r.error is not None:
                out.append(f"{name} failed without any fault: {type(r.error).__name__}: {r.error}")
    if scenario.invariant is not None and not any(o.startswith("hang") for o in out):
        try:
            verdict = scenario.invariant(result)
        except Exception as e:
            out.append(f"invariant {_name(scenario.invariant)}: {type(e).__name__}: {e}")
        else:
            if verdict is False or (isinstance(verdict, str) and verdict):
                out.append(f"invariant {_name(scenario.invariant)}: {verdict if verdict else 'does not hold'}")
    return out


def _name(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def run_one(
    scenario: Scenario, seed: int, *, policy: str = "random", faults: FaultConfig | None = None,
    schedule: Sequence[SimFault] | None = None, forced: Sequence[tuple[str, str]] | None = None,
    header: Mapping[str, Any] | None = None,
) -> Verdict:
    result = simulate(
        scenario.session, scenario.roles, seed, policy=policy, faults=faults, schedule=schedule,
        forced=forced, byzantine=scenario.byzantine, max_byzantine=scenario.max_byzantine,
        header=header,
    )
    return Verdict(seed, check(scenario, result, policy), result)


def sweep(
    scenario: Scenario, seeds: Iterable[int], *, policy: str = "random",
    faults: FaultConfig | None = None, schedule: Sequence[SimFault] | None = None,
    header: Mapping[str, Any] | None = None, on_verdict: Callable[[Verdict], object] | None = None,
) -> list[Verdict]:
    """Every seed in one trio run; returns the failing verdicts (``on_verdict`` sees all)."""
    failing: list[Verdict] = []

    def judge(result: SimResult) -> None:
        v = Verdict(result.seed, check(scenario, result, policy), result)
        if not v.ok:
            failing.append(v)
        if on_verdict is not None:
            on_verdict(v)

    simulate_many(
        scenario.session, scenario.roles, seeds, judge, policy=policy, faults=faults,
        schedule=schedule, byzantine=scenario.byzantine, max_byzantine=scenario.max_byzantine,
        header=header,
    )
    return failing


def shrink_failure(
    scenario: Scenario, verdict: Verdict, *, policy: str = "random", max_runs: int = 200,
) -> tuple[list[SimFault], Verdict]:
    """A minimal fault schedule on which ``verdict``'s seed still fails, and that run."""
    runs = 0
    last: dict[str, Verdict] = {}

    def fails(candidate: list[SimFault]) -> bool:
        nonlocal runs
        if runs >= max_runs:
            return False
        runs += 1
        v = run_one(scenario, verdict.seed, policy=policy, schedule=candidate)
        if not v.ok:
            last["v"] = v
        return not v.ok

    if not fails(list(verdict.result.faults)):
        # Not reproducible from its schedule alone (it needs the random draws); keep as is.
        return list(verdict.result.faults), verdict
    minimal = shrink(verdict.result.faults, fails)
    final = run_one(scenario, verdict.seed, policy=policy, schedule=minimal)
    return minimal, final if not final.ok else last["v"]


# ---------------------------------------------------------------------- loading scenarios


def load_object(spec: str, what: str = "--scenario") -> object:
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ConfigError(f"{what} must be MODULE:NAME, got {spec!r}")
    try:
        module = importlib.import_module(mod)
    except ImportError as e:
        raise ConfigError(f"{what} {spec}: cannot import {mod}: {e}") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise ConfigError(f"{what} {spec}: {mod} has no {attr}")
    return obj


def load_scenario(spec: str) -> Scenario:
    """``MODULE:NAME``: a ``Scenario``, or a function of no arguments returning one."""
    obj = load_object(spec)
    if callable(obj) and not isinstance(obj, Scenario):
        obj = obj()
    if not isinstance(obj, Scenario):
        raise ConfigError(f"--scenario {spec}: not a Scenario (got {type(obj).__name__})")
    return obj


def _starts(module: object) -> dict[str, Callable[..., Any]]:
    """The generated ``start_<role>`` functions by role: their return annotation names the
    initial state class, ``<Role>_S0`` (no need for the compiler's naming rules)."""
    out: dict[str, Callable[..., Any]] = {}
    for attr in dir(module):
        fn = getattr(module, attr)
        if attr.startswith("start_") and callable(fn):
            ann = getattr(fn, "__annotations__", {}).get("return")
            if isinstance(ann, str) and "_" in ann:
                out[ann.rsplit("_", 1)[0]] = fn
            elif isinstance(ann, type) and "_" in ann.__name__:
                out[ann.__name__.rsplit("_", 1)[0]] = fn
    return out


def entries_scenario(
    protocol_module: str, entries: Mapping[str, str], *, params: Mapping[str, int] | None = None,
    families: Mapping[str, int] | None = None, timeout: float = 30.0, pass_: str = "auto",
    capabilities: Mapping[str, Sequence[str]] | None = None, invariant: Invariant | None = None,
) -> Scenario:
    """A scenario from role entries as ``minuet run`` takes them: ``{"Buyer1": "pkg.mod:fn"}``;
    a family name (``"Signer"``) gives the function to every member of the family. The entry
    gets the initial generated state (``start_<role>``) or, without one, the endpoint."""
    try:
        pmod = importlib.import_module(protocol_module)
    except ImportError as e:
        raise ConfigError(f"--protocol {protocol_module}: cannot import: {e}") from None
    protocol = getattr(pmod, "PROTOCOL", None)
    if not isinstance(protocol, ProtocolInfo):
        raise ConfigError(f"{protocol_module} defines no PROTOCOL")
    spec = SessionSpec(protocol, dict(params or {}), dict(families or {}),
                       {k: set(v) for k, v in (capabilities or {}).items()} or None, timeout=timeout)
    info = SessionInfo.build(protocol, spec.params, spec.families, "check", 0, timeout)
    starts = _starts(pmod)
    fns: dict[str, RoleFn] = {}
    for member in info.members:
        entry = entries.get(str(member)) or entries.get(member.role)
        if entry is None:
            raise ConfigError(f"no --role entry for {member} (give {member}=MODULE:FUNCTION or {member.role}=...)")
        fn = load_object(entry, "--role")
        if not callable(fn):
            raise ConfigError(f"--role {entry}: not a function")
        start = starts.get(member.role)
        use_state = pass_ == "state" or (pass_ == "auto" and start is not None)
        if use_state and start is None:
            raise ConfigError(f"{protocol_module} has no start function for {member.role}")
        fns[str(member)] = _entry_program(fn, start if use_state else None)
    known = {str(m) for m in info.members} | {m.role for m in info.members}
    stray = sorted(set(entries) - known)
    if stray:
        raise ConfigError(f"--role {', '.join(stray)}: not members of {protocol.name}")
    return Scenario(protocol.name, spec, lambda _byz: fns, invariant)


def _entry_program(fn: Callable[..., Any], start: Callable[..., Any] | None) -> RoleFn:
    async def run(ep: Any) -> Any:
        arg = start(ep) if start is not None else ep
        if inspect.isawaitable(arg):
            arg = await arg
        return await fn(arg)

    return run


# ---------------------------------------------------------------------- scenario files


@dataclass(frozen=True)
class ScenarioFile:
    scenario: str  # MODULE:NAME
    seed: int
    policy: str
    faults: tuple[SimFault, ...]
    deliveries: tuple[tuple[str, str], ...] | None

    def to_json(self) -> str:
        """Sorted keys, one fault and one delivery per line (diffable, still plain JSON)."""
        def listing(items: list[str]) -> str:
            return "[\n" + ",\n".join(f"  {i}" for i in items) + "\n ]" if items else "[]"

        fields = {
            "deliveries": None if self.deliveries is None else listing([json.dumps(list(d)) for d in self.deliveries]),
            "faults": listing([json.dumps(f.to_json(), sort_keys=True) for f in self.faults]),
            "format": json.dumps(SCENARIO_FORMAT), "policy": json.dumps(self.policy),
            "scenario": json.dumps(self.scenario), "seed": json.dumps(self.seed),
        }
        body = ",\n".join(f" {json.dumps(k)}: {v}" for k, v in fields.items() if v is not None)
        return "{\n" + body + "\n}\n"


def read_scenario_file(path: str | Path) -> ScenarioFile:
    p = Path(path)
    try:
        obj = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise ConfigError(f"{p}: not JSON: {e}") from None
    if not isinstance(obj, dict) or obj.get("format") != SCENARIO_FORMAT:
        raise ConfigError(f"{p}: not a {SCENARIO_FORMAT} file")
    seed, policy, scen = obj.get("seed"), obj.get("policy", "random"), obj.get("scenario")
    if not isinstance(seed, int) or not isinstance(policy, str) or not isinstance(scen, str):
        raise ConfigError(f"{p}: needs 'scenario' (MODULE:NAME), an int 'seed' and a 'policy'")
    faults = obj.get("faults", [])
    if not isinstance(faults, list):
        raise ConfigError(f"{p}: 'faults' must be a list")
    deliveries = obj.get("deliveries")
    return ScenarioFile(
        scen, seed, policy,
        tuple(SimFault.from_json(f, f"{p}: faults[{i}]") for i, f in enumerate(faults)),
        None if deliveries is None else _pairs(deliveries, str(p)),
    )


def _pairs(obj: object, where: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(obj, list) or not all(
        isinstance(d, list) and len(d) == 2 and all(isinstance(x, str) for x in d) for d in obj
    ):
        raise ConfigError(f"{where}: 'deliveries' must be a list of [sender, receiver] pairs")
    return tuple((d[0], d[1]) for d in obj)


def deliveries_of(trace: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """The order in which data frames reached their receivers, from a simulation trace or
    from a memory/TCP trace (``runtime.trace``: its receive events in time order)."""
    if any(e.get("kind") == "header" for e in trace):
        return tuple((str(e["peer"]), str(e["role"])) for e in trace if e.get("choice") is True)
    recvs = [e for e in trace if e.get("direction") == "recv"]
    recvs.sort(key=lambda e: float(e.get("time", 0.0)))
    return tuple((str(e["peer"]), str(e["role"])) for e in recvs)
