"""``minuet run`` and ``minuet trace`` (wired into the ``minuet`` CLI by ``codegen.cli``).

    minuet run --config net.json --role Buyer1 --entry mypkg.buyer:main
               [--protocol generated.examples.two_buyer] [--pass auto|state|endpoint]
               [--host H] [--port P] [--key FILE] [--timeout S] [--session ID] [--epoch N]
               [--trace trace.jsonl] [--metrics metrics.json] [--journal journal.jsonl]
    minuet run keys gen|pub|config|list ...        (see runtime.keys)
    minuet trace trace.jsonl [-o out.mmd]          (Mermaid sequence diagram)

The protocol module (``--protocol``, else the entry's module) must define ``PROTOCOL``. If it
has ``start_<role>`` (the generator's entry point, role in snake_case) the entry function gets
the initial state, otherwise the endpoint; ``--pass`` forces one. The entry's return value is
printed as one JSON line (``repr`` if not JSON-serialisable). Exit status: 0 done, 1 session
error (message on stderr; an entry that returns before End is one), 2 usage or config error.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from runtime import keys, trace_mermaid
from runtime.config import NetConfig, load_config
from runtime.contract import ProtocolInfo
from runtime.errors import ConfigError, LocalViolation, MinuetError
from runtime.extensions import Journal
from runtime.identity import read_key_file
from runtime.metrics import MetricsMiddleware
from runtime.middleware import Middleware
from runtime.session_core import parse_peer
from runtime.tcp import tcp_session
from runtime.trace import TraceMiddleware


def _snake(name: str) -> str:
    from codegen.names import snake_case  # one naming rule for generator and runtime

    return snake_case(name)


def _load(spec: str) -> Callable[..., Any]:
    mod, _, attr = spec.partition(":")
    if not mod or not attr:
        raise ConfigError(f"--entry must be MODULE:FUNCTION, got {spec!r}")
    fn: object = getattr(importlib.import_module(mod), attr, None)
    if not callable(fn):
        raise ConfigError(f"{spec}: no such function")
    return fn


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="minuet run", description="run one member of a session over TCP")
    ap.add_argument("--config", required=True, help="network config (JSON or TOML)")
    ap.add_argument("--role", required=True, help="member to run: Buyer1, Signer[2]")
    ap.add_argument("--entry", required=True, help="MODULE:FUNCTION, an async role function")
    ap.add_argument("--protocol", help="module defining PROTOCOL (default: the entry's module)")
    ap.add_argument("--pass", dest="pass_", choices=("auto", "state", "endpoint"), default="auto")
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--key", help="key file (overrides the config)")
    ap.add_argument("--timeout", type=float)
    ap.add_argument("--session")
    ap.add_argument("--epoch", type=int)
    ap.add_argument("--trace", help="append JSON-lines trace events to this file")
    ap.add_argument("--metrics", help="write metrics JSON here at the end")
    ap.add_argument("--journal", help="append journal facts to this JSON-lines file")
    ap.add_argument("--path", action="append", default=[], help="prepend to sys.path (repeatable)")
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


async def _run(args: argparse.Namespace) -> Any:
    for p in reversed(args.path):
        sys.path.insert(0, p)
    entry = _load(args.entry)
    pmod = importlib.import_module(args.protocol or args.entry.partition(":")[0])
    protocol = getattr(pmod, "PROTOCOL", None)
    if not isinstance(protocol, ProtocolInfo):
        raise ConfigError(f"{pmod.__name__} defines no PROTOCOL (use --protocol)")
    cfg = _override(load_config(args.config), args)
    me = parse_peer(args.role)
    start = getattr(pmod, f"start_{_snake(me.role)}", None)
    use_state = args.pass_ == "state" or (args.pass_ == "auto" and callable(start))
    if use_state and not callable(start):
        raise ConfigError(f"{pmod.__name__} has no start_{_snake(me.role)}")
    key = read_key_file(args.key) if args.key else None
    middleware: list[Middleware] = []
    tracer = TraceMiddleware(args.trace) if args.trace else None
    metrics = MetricsMiddleware() if args.metrics else None
    middleware += [m for m in (tracer, metrics) if m is not None]
    journal = Journal(args.journal) if args.journal else None
    try:
        async with tcp_session(protocol, cfg, me, key=key, middleware=middleware, journal=journal) as ep:
            arg: Any = start(ep) if use_state and start is not None else ep
            if inspect.isawaitable(arg):
                arg = await arg
            result = await entry(arg)
            if not ep.done:
                # Stopped short: leaving the session aborts it for the peers; say so here too.
                raise LocalViolation(
                    f"the entry function returned without reaching the end of the protocol "
                    f"(returned {result!r})"
                )
            return result
    finally:
        if tracer is not None:
            tracer.close()
        if metrics is not None:
            Path(args.metrics).write_text(metrics.to_json(), encoding="utf-8")


def run_main(argv: list[str]) -> int:
    if argv[:1] == ["keys"]:
        return keys.main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        result = trio.run(_run, args)
    except ConfigError as e:
        print(f"minuet run: {e}", file=sys.stderr)
        return 2
    except MinuetError as e:
        print(f"minuet run: {args.role}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except BaseExceptionGroup as eg:
        errs = eg.subgroup(lambda e: isinstance(e, MinuetError))
        if errs is None:
            raise
        for sub in errs.exceptions:
            print(f"minuet run: {args.role}: {type(sub).__name__}: {sub}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({"role": args.role, "result": result}))
    except TypeError:
        print(json.dumps({"role": args.role, "result": repr(result)}))
    return 0


def trace_main(argv: list[str]) -> int:
    return trace_mermaid.main(argv)


if __name__ == "__main__":
    sys.exit(run_main(sys.argv[1:]))
