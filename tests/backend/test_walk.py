"""Every good spec, generated and *run*: a generic driver walks each role's states over the
in-memory transport, choosing branches round-robin, so loop counters, rec back edges,
participation (skip), family fan-out/collection, fork/join and decided loops all execute.

The driver uses reflection, so it is a run-time check of the generated code, not of its
types (the typecheck corpus covers those).
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import trio
import yaml

from codegen.backend.render import guard_py, render_module
from codegen.core.ast import (
    Choice,
    Choose,
    FixedBytesType,
    GuardExpr,
    Interaction,
    ListType,
    Loop,
    MapType,
    OptionalType,
    Parallel,
    PrimType,
    Protocol,
    Rec,
    RecordRef,
    Stmt,
    TypeExpr,
)
from codegen.core.local import (
    LDecideLoop,
    LLoop,
    LocalType,
    LOffer,
    LParallel,
    LRec,
    LSelect,
    LStmt,
)
from codegen.core.names import method_suffix, role_module
from codegen.frontend.validate import scopes, walk
from codegen.generate import REPO, find_specs
from codegen.pipeline import compile_text
from runtime.errors import LocalViolation, PeerGone
from runtime.memory import memory_session
from tests.runtime.harness import Runner, make_tcp_runner

STEP_BUDGET = 80  # transitions per role before a (possibly infinite) protocol is cut off
PARAM = 3
DYNAMIC = 4


class _Budget(Exception):
    """A role used up its step budget (a protocol that may never end)."""


def _value(t: TypeExpr, proto: Protocol, mod: ModuleType, depth: int) -> object:
    match t:
        case PrimType():
            return {"int": 1, "str": "s", "bytes": b"b", "bool": True, "float": 1.5}[t.name]
        case FixedBytesType():
            return bytes(t.size)
        case ListType():
            return [] if depth > 2 else [_value(t.item, proto, mod, depth + 1)]
        case OptionalType():
            return None if depth > 2 else _value(t.item, proto, mod, depth + 1)
        case MapType():
            return {} if depth > 2 else {_value(t.key, proto, mod, depth + 1): _value(t.value, proto, mod, depth + 1)}
        case RecordRef():
            rec = next(r for r in proto.records if r.name == t.name)
            if rec.variants:  # a tagged union: its last variant (the first may recurse)
                return _value(rec.variants[-1], proto, mod, depth)
            return getattr(mod, rec.name)(**{f.name: _value(f.type, proto, mod, depth + 1) for f in rec.fields})


def _message(name: str, proto: Protocol, mod: ModuleType) -> object:
    msg = next(m for m in proto.messages if m.name == name)
    return getattr(mod, name)(**{f.name: _value(f.type, proto, mod, 0) for f in msg.fields})


def _methods(state: object) -> list[str]:
    return [n for n in type(state).__dict__ if not n.startswith("_") and n not in ("participates", "iteration")]


class Driver:
    def __init__(
        self, proto: Protocol, mod: ModuleType, guards: dict[str, GuardExpr], params: dict[str, int] | None = None
    ) -> None:
        self.proto, self.mod = proto, mod
        # Steps that choose a set at run time: their output is that many member indices.
        self.set_sizes = {
            s.step: s.size if isinstance(s.size, int) else (params or {}).get(str(s.size), 1)
            for sc in scopes(proto) for s in walk(sc.body) if isinstance(s, Choose) and s.size is not None
        }
        self.visits: dict[str, int] = {}
        self.steps = 0
        self.guards = guards

    async def walk(self, state: Any) -> Any:
        """Drive ``state`` to an End or a parallel branch end (a state with no methods)."""
        while True:
            methods = _methods(state)
            if not methods:
                return state
            self.steps += 1
            if self.steps > STEP_BUDGET:
                raise _Budget
            name = type(state).__name__
            visit = self.visits.get(name, 0)
            self.visits[name] = visit + 1
            if "participation" in methods:
                state = (await state.participation()).state
            elif "fork" in methods:
                join, *branches = await state.fork()
                ends: list[Any] = [None] * len(branches)

                async def run(i: int, s: Any, ends: list[Any] = ends) -> None:
                    ends[i] = await self.walk(s)

                async with trio.open_nursery() as nursery:
                    for i, b in enumerate(branches):
                        nursery.start_soon(run, i, b)
                state = await join.join(*ends)
            elif "offer" in methods:
                state = (await state.offer()).state
            elif "next" in methods:
                state = (await state.next()).state
            elif "bump_epoch" in methods:
                _, state = await state.bump_epoch()
            elif "select_exit" in methods and "select_continue" in methods:
                state = await (state.select_continue() if visit < 2 else state.select_exit())
            else:
                selects = sorted(m for m in methods if m.startswith("select_"))
                if selects:
                    # Round-robin over branches, skipping those whose guard cannot hold.
                    fn: Any = None
                    kwargs = None
                    for k in range(len(selects)):
                        fn = getattr(state, selects[(visit + k) % len(selects)])
                        kwargs = self.satisfy(fn, state)
                        if kwargs is not None:
                            break
                    assert kwargs is not None, f"no branch of {name} can be selected"
                    state = await fn(**kwargs)
                    continue
                action = next(
                    m for m in methods if m.startswith(("send_", "recv_", "do_", "learn_")) and not m.endswith("_each")
                )
                if action.startswith("do_"):
                    state = await self.local_step(state, action)
                elif action.startswith(("recv_", "learn_")):  # learn_: a choice announced to this role
                    _, state = await getattr(state, action)()
                else:
                    label = inspect.signature(getattr(state, action)).parameters["msg"].annotation
                    state = await getattr(state, action)(_message(label, self.proto, self.mod))


    async def local_step(self, state: Any, action: str) -> Any:
        """Run a local step with a function returning a value of the declared output type
        (built from the spec, as messages are); the next state is what comes back."""
        step = next(st for st in self.proto.steps if "do_" + method_suffix(st.name) == action)
        out = None if step.output is None else _value(step.output, self.proto, self.mod, 0)
        if step.name in self.set_sizes:
            out = list(range(self.set_sizes[step.name]))
        args = [] if step.input is None else [_value(step.input, self.proto, self.mod, 0)]
        result = await getattr(state, action)((lambda *_: out), *args)
        if step.output is not None and not isinstance(result, tuple):  # a chosen role: a variant
            return result.state
        return result if step.output is None else result[1]

    def satisfy(self, fn: Any, state: Any) -> dict[str, object] | None:
        """Guard-variable values under which the branch's guard holds (test-side search:
        the guard is compiled with the generator's own guard compiler and evaluated here)."""
        label = fn.__name__.removeprefix("select_")
        guard = self.guards.get(label)
        names = list(inspect.signature(fn).parameters)
        if guard is None:
            return {}
        expr = guard_py(guard, {p.name for p in self.proto.params})
        pools = [_CANDIDATES[inspect.signature(fn).parameters[n].annotation] for n in names]
        for values in itertools.product(*pools):
            env: dict[str, object] = {"_ep": state._ep, **dict(zip(names, values, strict=True))}
            if eval(expr, {}, env):  # test only: generated code never evals guards
                return dict(zip(names, values, strict=True))
        return None


_CANDIDATES: dict[str, tuple[object, ...]] = {
    "int": (0, 1, 2, 3, 5, 100, 1000, -1),
    "bool": (True, False),
    "str": ("s", ""),
    "float": (0.0, 1.0),
}


def _load(path: Path, tmp: Path) -> tuple[Protocol, ModuleType, dict[str, LocalType]] | None:
    rel = path.relative_to(REPO).as_posix()
    compiled = compile_text(path.read_text(encoding="utf-8"), rel, lambda p: (REPO / p).read_text(encoding="utf-8"))
    if not compiled.ok or compiled.protocol is None or compiled.protocol.library:
        return None  # a library has no roles to walk: its importers run its sub-protocols
    text = render_module(compiled.protocol, compiled.locals, rel)
    name = f"walkgen_{path.stem}"
    file = tmp / f"{name}.py"
    file.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, file)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses resolve their module while the class is built
    spec.loader.exec_module(mod)
    return compiled.protocol, mod, compiled.locals


def _specs() -> list[Path]:
    return find_specs(REPO / "protocols") + find_specs(REPO / "tests/specs/good")


def _seed_family_specs() -> list[Path]:
    """The seed specs with a role family: those the TCP run covers."""
    out = []
    for path in find_specs(REPO / "protocols" / "seed"):
        text = path.read_text(encoding="utf-8")
        roles = yaml.safe_load(text).get("roles") or []
        if any("[" in str(r) for r in roles):
            out.append(path)
    return out


@pytest.mark.parametrize("path", _specs(), ids=lambda p: p.stem)
async def test_walk_every_role(path: Path, tmp_path: Path) -> None:
    await _walk_spec(path, tmp_path, None)


@pytest.mark.parametrize("path", _seed_family_specs(), ids=lambda p: p.stem)
async def test_walk_seed_families_over_tcp(path: Path, tmp_path: Path) -> None:
    """The same walk with every member a TCP endpoint of its own (authenticated links)."""
    net = tmp_path / "net"
    net.mkdir()
    await _walk_spec(path, tmp_path, make_tcp_runner(net))


async def _walk_spec(path: Path, tmp_path: Path, tcp: Runner | None) -> None:
    loaded = _load(path, tmp_path)
    if loaded is None:
        pytest.skip("spec does not compile, or is a library")
    proto, mod, locals_ = loaded
    # Parameters that size a family get room for literal indices; the others stay small.
    sizes = {d.size for d in proto.roles if d.kind == "param"}
    params = {p.name: PARAM + 1 if p.name in sizes else PARAM - 1 for p in proto.params}
    families = {}
    members: list[str] = []
    for d in proto.roles:
        if d.kind == "single":
            members.append(d.name)
            continue
        size = d.size if isinstance(d.size, int) else params.get(str(d.size), DYNAMIC)
        families[d.name] = size
        members += [f"{d.name}[{i}]" for i in range(size)]
    budget_hit: list[str] = []
    guards = _guards(locals_)

    def role_fn(member: str) -> Any:
        entry = getattr(mod, "start_" + role_module(member.split("[")[0]))

        async def fn(ep: Any) -> Any:
            try:
                return await Driver(proto, mod, guards, params).walk(entry(ep))
            except _Budget:
                budget_hit.append(member)
                return None

        return fn

    caps = {m.split("[")[0]: _caps(proto) for m in members}
    with trio.fail_after(20):
        if tcp is not None:
            results = await tcp(mod.PROTOCOL, {m: role_fn(m) for m in members}, params=params,
                                families=families, capabilities=caps)
        else:
            async with memory_session(mod.PROTOCOL, params=params, families=families, capabilities=caps) as net:
                results = await net.run({m: role_fn(m) for m in members})
    errors = {m: r.error for m, r in results.items() if r.error is not None}
    if budget_hit:
        # A protocol that never ends: a role cut off is told it stopped short, its peers see
        # it gone; nothing else.
        for m, e in errors.items():
            if m in budget_hit:
                assert isinstance(e, LocalViolation) and "without reaching the end" in str(e), e
            else:
                assert isinstance(e, PeerGone), errors
        return
    assert errors == {}
    for m, r in results.items():
        assert type(r.value).__name__.endswith("_End"), (m, r.value)


def _guards(locals_: dict[str, LocalType]) -> dict[str, GuardExpr]:
    """Branch label (as a method suffix) -> guard, from the local types: calls are inlined
    there, with the callee's parameters replaced by what each call binds."""
    out: dict[str, GuardExpr] = {}

    def walk(body: tuple[LStmt, ...]) -> None:
        for s in body:
            match s:
                case LSelect():
                    for b in s.branches:
                        if b.guard is not None:
                            out.setdefault(method_suffix(b.label), b.guard.expr)
                        walk(b.body)
                    walk(s.others)
                case LOffer():
                    for ob in s.branches:
                        walk(ob.body)
                case LLoop() | LRec() | LDecideLoop():
                    walk(s.body)
                case LParallel():
                    for br in s.branches:
                        walk(br)
                case _:
                    pass

    for lt in locals_.values():
        walk(lt.body)
    return out


def _caps(proto: Protocol) -> list[str]:
    caps: set[str] = set()

    def walk(body: tuple[Stmt, ...]) -> None:
        for s in body:
            match s:
                case Interaction() if s.annotations.guard_capability:
                    caps.add(s.annotations.guard_capability)
                case Choice():
                    for b in s.branches:
                        walk(b.body)
                case Loop() | Rec():
                    walk(s.body)
                case Parallel():
                    for br in s.branches:
                        walk(br)
                case _:
                    pass

    walk(proto.body)
    for sub in proto.subprotocols:
        walk(sub.body)
    return sorted(caps)
