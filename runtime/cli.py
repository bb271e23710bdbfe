"""``minuet run`` and ``minuet trace`` (wired into the ``minuet`` CLI by ``codegen.cli``).

    minuet run --memory --protocol generated.shop --entry Buyer=roles:buyer --entry Seller=roles:seller
               [--param t=2] [--family Signer=3] [--fault crash,role=Seller,after=1] [--seed N]
               [--pass auto|state|endpoint] [--timeout S] [--trace trace.jsonl] [--metrics m.json]
    minuet run --config net.json --role Buyer1 --entry mypkg.buyer:main
               [--protocol generated.examples.two_buyer] [--pass auto|state|endpoint]
               [--host H] [--port P] [--key FILE] [--timeout S] [--session ID] [--epoch N]
               [--transport tcp|p2p [--mdns]]
               [--trace trace.jsonl] [--metrics metrics.json] [--journal journal.jsonl]
    minuet run keys gen|pub|config|list ...        (see runtime.keytool)
    minuet trace trace.jsonl [-o out.mmd]          (Mermaid sequence diagram; --at K, --step)
    minuet simulate ...                            (deterministic simulation, see runtime.sim.cli)

``--memory`` runs every member of one session in this process (an ``--entry ROLE=MODULE:FN``
per role; a family's entry runs each of its members), so a protocol can be tried without keys
or ports; ``--fault`` injects ``runtime.faults`` faults (``KIND[,key=value...]``, keys
role, peer, label, nth, probability, delay, after). Without it, one member runs over TCP
(``--transport p2p``: over libp2p, ``runtime.p2p``).

The protocol module (``--protocol``, else the entry's module) must define ``PROTOCOL``. If it
has ``start_<role>`` (the generator's entry point, role in snake_case) the entry function gets
the initial state, otherwise the endpoint; ``--pass`` forces one. Modules are imported from
every ``--path`` and from the project's package root (``[tool.minuet] package-root`` in the
nearest ``pyproject.toml``, else its folder, else the working directory; as ``python -m``). Each entry's
return value is printed as one JSON line (``repr`` if not JSON-serialisable). Exit status:
0 done, 1 session error (message on stderr; an entry that returns before End is one),
2 usage or config error (including an entry that cannot be imported).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import inspect
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO, final

import trio

from runtime import keytool
from runtime.config import NetConfig, load_config
from runtime.contract import ProtocolInfo
from runtime.endpoint import SessionEndpoint
from runtime.errors import ConfigError, LocalViolation, MinuetError
from runtime.extensions import Journal
from runtime.faults import Fault, FaultInjector
from runtime.identity import read_key_file
from runtime.memory import memory_session
from runtime.metrics import MetricsMiddleware
from runtime.middleware import Middleware
from runtime.naming import snake_case
from runtime.pyproject import package_root
from runtime.session_core import parse_peer
from runtime.tcp import tcp_session
from runtime.trace import TraceMiddleware

_FAULT_KINDS = ("drop", "delay", "duplicate", "corrupt", "crash")
_FAULT_KEYS = {"role": str, "peer": str, "label": str, "nth": int, "probability": float,
               "delay": float, "after": int}


def _import(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except Exception as e:  # the user's module: any failure while importing it is a usage error
        raise ConfigError(f"cannot import {module}: {type(e).__name__}: {e}") from None


def _load(spec: str) -> Callable[..., Any]:
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ConfigError(f"--entry must be MODULE:FUNCTION, got {spec!r}")
    fn: object = getattr(_import(mod), attr, None)
    if not callable(fn):
        raise ConfigError(f"{spec}: no such function")
    return fn


def _pairs(items: list[str], what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            out[name] = int(value)
        except ValueError:
            raise ConfigError(f"--{what} must be NAME=INTEGER, got {item!r}") from None
    return out


def parse_fault(text: str) -> Fault:
    """``crash,role=Seller,after=1`` -> a ``Fault``; a clear ConfigError otherwise."""
    kind, *opts = text.split(",")
    if kind not in _FAULT_KINDS:
        raise ConfigError(f"--fault {text!r}: kind must be one of {', '.join(_FAULT_KINDS)}")
    values: dict[str, Any] = {}
    for opt in opts:
        key, eq, value = opt.partition("=")
        conv = _FAULT_KEYS.get(key)
        if conv is None or not eq:
            raise ConfigError(f"--fault {text!r}: expected key=value with key one of {', '.join(_FAULT_KEYS)}")
        try:
            values[key] = conv(value)
        except ValueError:
            raise ConfigError(f"--fault {text!r}: {key} must be a {conv.__name__}") from None
    return Fault(kind, **values)  # type: ignore[arg-type]  # kind checked against _FAULT_KINDS


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="minuet run", description="run a generated protocol's roles")
    ap.add_argument("--memory", action="store_true", help="run every role in this process (no keys, no ports)")
    ap.add_argument("--entry", action="append", default=[],
                    help="MODULE:FUNCTION (TCP), or ROLE=MODULE:FUNCTION per role (--memory)")
    ap.add_argument("--protocol", help="module defining PROTOCOL (default: the entry's module)")
    ap.add_argument("--pass", dest="pass_", choices=("auto", "state", "endpoint"), default="auto")
    ap.add_argument("--timeout", type=float)
    ap.add_argument("--trace", help="append JSON-lines trace events to this file")
    ap.add_argument("--metrics", help="write metrics JSON here at the end")
    ap.add_argument("--journal", help="append journal facts to this JSON-lines file")
    ap.add_argument("--path", action="append", default=[], help="prepend to sys.path (repeatable)")
    mem = ap.add_argument_group("--memory")
    mem.add_argument("--param", action="append", default=[], metavar="NAME=N", help="protocol parameter")
    mem.add_argument("--family", action="append", default=[], metavar="ROLE=N", help="family size")
    mem.add_argument("--fault", action="append", default=[], metavar="KIND[,key=value...]",
                     help="inject a fault (drop, delay, duplicate, corrupt, crash)")
    mem.add_argument("--seed", type=int, default=0, help="seed of probabilistic faults")
    tcp = ap.add_argument_group("TCP (one member)")
    tcp.add_argument("--config", help="network config (JSON or TOML)")
    tcp.add_argument("--role", help="member to run: Buyer1, Signer[2]")
    tcp.add_argument("--host")
    tcp.add_argument("--port", type=int)
    tcp.add_argument("--key", help="key file (overrides the config)")
    tcp.add_argument("--session")
    tcp.add_argument("--epoch", type=int)
    tcp.add_argument("--transport", choices=("tcp", "p2p"), default="tcp",
                     help="p2p: libp2p streams (the minuet[p2p] extra, runtime.p2p)")
    tcp.add_argument("--mdns", action="store_true", help="p2p: find peers by mDNS on the LAN")
    return ap


def _override(cfg: NetConfig, args: argparse.Namespace) -> NetConfig:
    changes: dict[str, Any] = {}
    if args.timeout is not None:
        changes["timeout"] = args.timeout
    if args.session is not None:
        changes["session"] = args.session
    if args.epoch is not None:
        changes["epoch"] = args.epoch
    if args.host or args.port:
        m = cfg.members.get(args.role)
        if m is None:
            raise ConfigError(f"{args.role} is not a member in {args.config}")
        members = dict(cfg.members)
        members[args.role] = dataclasses.replace(m, host=args.host or m.host, port=args.port or m.port)
        changes["members"] = members
    return dataclasses.replace(cfg, **changes) if changes else cfg


def _protocol(args: argparse.Namespace, entry_module: str) -> tuple[ModuleType, ProtocolInfo]:
    pmod = _import(args.protocol or entry_module)
    protocol = getattr(pmod, "PROTOCOL", None)
    if not isinstance(protocol, ProtocolInfo):
        raise ConfigError(f"{pmod.__name__} defines no PROTOCOL (use --protocol)")
    return pmod, protocol


def _starter(pmod: ModuleType, role: str, pass_: str) -> Callable[[SessionEndpoint], Any] | None:
    """The generated ``start_<role>``, or None when the entry gets the endpoint itself."""
    name = f"start_{snake_case(role)}"
    start = getattr(pmod, name, None)
    if pass_ == "state" and not callable(start):
        raise ConfigError(f"{pmod.__name__} has no {name}")
    if pass_ == "endpoint" or not callable(start):
        return None
    return start  # type: ignore[no-any-return]


async def _call(entry: Callable[..., Any], start: Callable[[SessionEndpoint], Any] | None,
                ep: SessionEndpoint) -> Any:
    arg: Any = start(ep) if start is not None else ep
    if inspect.isawaitable(arg):
        arg = await arg
    return await entry(arg)


@final
class _Observers:
    """The ``--trace`` and ``--metrics`` middleware, and writing them out at the end."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.tracer = TraceMiddleware(args.trace) if args.trace else None
        self.metrics = MetricsMiddleware() if args.metrics else None
        self.metrics_path = args.metrics

    @property
    def middleware(self) -> list[Middleware]:
        return [m for m in (self.tracer, self.metrics) if m is not None]

    def close(self) -> None:
        if self.tracer is not None:
            self.tracer.close()
        if self.metrics is not None:
            Path(self.metrics_path).write_text(self.metrics.to_json(), encoding="utf-8")


async def _run_tcp(args: argparse.Namespace) -> Any:
    if not args.config or not args.role or len(args.entry) != 1:
        raise ConfigError("over TCP give --config, --role and one --entry MODULE:FUNCTION (or use --memory)")
    entry = _load(args.entry[0])
    pmod, protocol = _protocol(args, args.entry[0].partition(":")[0])
    cfg = _override(load_config(args.config), args)
    me = parse_peer(args.role)
    start = _starter(pmod, me.role, args.pass_)
    key = read_key_file(args.key) if args.key else None
    obs = _Observers(args)
    journal = Journal(args.journal) if args.journal else None
    session: Any = tcp_session
    if args.transport == "p2p":
        try:  # only here: the base runtime never imports libp2p
            from runtime.p2p import p2p_session
        except ImportError as e:
            raise ConfigError(f"--transport p2p needs the p2p extra (pip install 'minuet[p2p]'): {e}") from None
        session = functools.partial(p2p_session, mdns=args.mdns)
        # libp2p logs each refused or retried dial; Minuet reports the outcome, typed.
        logging.getLogger("libp2p").setLevel(logging.CRITICAL)
    elif args.mdns:
        raise ConfigError("--mdns is for --transport p2p")
    try:
        async with session(protocol, cfg, me, key=key, middleware=obs.middleware, journal=journal) as ep:
            result = await _call(entry, start, ep)
            if not ep.done:
                # Stopped short: leaving the session aborts it for the peers; say so here too.
                raise LocalViolation(
                    f"the entry function returned without reaching the end of the protocol "
                    f"(returned {result!r})"
                )
            return result
    finally:
        obs.close()


def _memory_entries(args: argparse.Namespace) -> dict[str, str]:
    entries: dict[str, str] = {}
    for item in args.entry:
        role, eq, target = item.partition("=")
        if not eq or ":" not in target:
            raise ConfigError(f"with --memory, --entry is ROLE=MODULE:FUNCTION, got {item!r}")
        if role in entries:
            raise ConfigError(f"two --entry options for {role}")
        entries[role] = target
    if not entries:
        raise ConfigError("--memory needs an --entry ROLE=MODULE:FUNCTION for every role")
    return entries


async def _run_memory(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.config or args.role or args.key or args.host or args.port:
        raise ConfigError("--config, --role, --key, --host and --port are for TCP, not --memory")
    entries = _memory_entries(args)
    pmod, protocol = _protocol(args, next(iter(entries.values())).partition(":")[0])
    declared = {r.name: r for r in protocol.roles}
    unknown = sorted(set(entries) - set(declared))
    missing = sorted(set(declared) - set(entries))
    if unknown or missing:
        raise ConfigError(f"{protocol.name}: " + "; ".join(
            [f"no role {r}" for r in unknown] + [f"no --entry for role {r}" for r in missing]))
    faults = [parse_fault(f) for f in args.fault]
    obs = _Observers(args)
    injector = FaultInjector(faults, seed=args.seed) if faults else None
    middleware = [*obs.middleware, *([injector] if injector is not None else [])]
    journal = Journal(args.journal) if args.journal else None
    params, families = _pairs(args.param, "param"), _pairs(args.family, "family")
    fns = {role: (_load(target), _starter(pmod, role, args.pass_)) for role, target in entries.items()}
    timeout = {"timeout": args.timeout} if args.timeout is not None else {}
    try:
        async with memory_session(protocol, params, families, middleware=middleware,
                                  journal=journal, **timeout) as net:
            members = [str(m) for m in net.info.members]

            def runner(member: str) -> Callable[[SessionEndpoint], Awaitable[Any]]:
                entry, start = fns[parse_peer(member).role]
                return lambda ep: _call(entry, start, ep)

            results = await net.run({m: runner(m) for m in members})
    finally:
        obs.close()
    failed = 0
    for member in members:
        res = results[member]
        if res.ok:
            _print_result(member, res.value, out)
        else:
            failed += 1
            e = res.error
            print(f"minuet run: {member}: {type(e).__name__}: {e}", file=err)
    return 1 if failed else 0


def _print_result(role: str, result: Any, out: TextIO) -> None:
    try:
        print(json.dumps({"role": role, "result": result}), file=out)
    except TypeError:
        print(json.dumps({"role": role, "result": repr(result)}), file=out)


def _leaves(eg: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    return [x for e in eg.exceptions
            for x in (_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])]


def run_main(argv: list[str], out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    if argv[:1] == ["keys"]:
        return keytool.main(argv[1:])
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    who = "" if args.memory else f"{args.role}: "
    try:
        # Like `python -m`: the user's modules are found from the project's package root
        # ([tool.minuet] package-root, else the project root or the working directory).
        for p in [str(package_root(Path.cwd())), *reversed(args.path)]:
            if p not in sys.path:
                sys.path.insert(0, p)
        if args.memory:
            return trio.run(_run_memory, args, out, err)
        result = trio.run(_run_tcp, args)
    except ConfigError as e:
        print(f"minuet run: {e}", file=err)
        return 2
    except MinuetError as e:
        print(f"minuet run: {who}{type(e).__name__}: {e}", file=err)
        return 1
    except BaseExceptionGroup as eg:
        errs = eg.subgroup(lambda e: isinstance(e, MinuetError))
        if errs is None:
            raise
        for sub in _leaves(errs):  # libp2p's service nurseries nest groups deeper
            print(f"minuet run: {who}{type(sub).__name__}: {sub}", file=err)
        return 1
    _print_result(args.role, result, out)
    return 0


def trace_main(argv: list[str]) -> int:
    from runtime.sim.cli import trace_main as main  # Mermaid, --at K, --step

    return main(argv)


def simulate_main(argv: list[str]) -> int:
    from runtime.sim.cli import simulate_main as main

    return main(argv)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv[1:]))
