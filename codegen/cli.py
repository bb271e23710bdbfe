"""``minuet``: a thin shell over the compiler stages and the runtime.

Subcommands owned elsewhere (views, generation, runtime) are imported inside their
handlers, so each command works as soon as its module exists and fails clearly before.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO, cast

from codegen.diagnostics import did_you_mean, render_all
from codegen.pipeline import Compiled, compile_file


def _lazy(module: str, attr: str) -> Callable[..., object] | None:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and module.startswith(exc.name):
            return None
        raise
    fn = getattr(mod, attr, None)
    return cast(Callable[..., object], fn) if callable(fn) else None


def _missing(module: str, attr: str, err: TextIO) -> int:
    print(f"minuet: {module}.{attr} is not available in this build", file=err)
    return 2


def _compile(path: str, err: TextIO) -> Compiled | None:
    compiled = compile_file(path)
    if compiled.diagnostics:
        print(render_all(compiled.diagnostics, {path: compiled.source}), file=err)
    return compiled if compiled.ok else None


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    failed = 0
    for path in args.specs:
        compiled = compile_file(path)
        if compiled.diagnostics:
            print(render_all(compiled.diagnostics, {path: compiled.source}), file=err)
        if compiled.ok:
            print(f"ok: {path}", file=out)
        else:
            failed += 1
    if failed:
        print(f"{failed} of {len(args.specs)} spec{'s' if len(args.specs) != 1 else ''} failed", file=err)
    return 1 if failed else 0


def _project(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    compiled = _compile(args.spec, err)
    if compiled is None:
        return 1
    render_local = _lazy("codegen.views", "render_local")
    if render_local is None:
        return _missing("codegen.views", "render_local", err)
    roles = [args.role] if args.role else sorted(compiled.locals)
    for role in roles:
        lt = compiled.locals.get(role)
        if lt is None:
            hint = did_you_mean(role, compiled.locals)
            print(f"minuet: no role {role!r} in {args.spec}{'; ' + hint if hint else ''}", file=err)
            return 1
        print(render_local(lt), file=out)
    return 0


def _graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    compiled = _compile(args.spec, err)
    if compiled is None or compiled.protocol is None:
        return 1
    if args.format == "mermaid":
        mermaid = _lazy("codegen.views", "mermaid")
        if mermaid is None:
            return _missing("codegen.views", "mermaid", err)
        print(mermaid(compiled.protocol), file=out)
        return 0
    dot = _lazy("codegen.views", "dot")
    if dot is None:
        return _missing("codegen.views", "dot", err)
    roles = [args.role] if args.role else sorted(compiled.locals)
    for role in roles:
        lt = compiled.locals.get(role)
        if lt is None:
            print(f"minuet: no role {role!r} in {args.spec}", file=err)
            return 1
        print(dot(lt), file=out)
    return 0


def _lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.lint import lint_paths

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        for p in missing:
            print(f"minuet lint: {p}: no such file or folder", file=err)
        return 2
    diagnostics, sources = lint_paths(args.paths)
    if diagnostics:
        print(render_all(diagnostics, sources), file=err)
        return 1
    print(f"ok: {len(sources)} file{'s' if len(sources) != 1 else ''}, no state used twice", file=out)
    return 0


def _verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.verify import Bounds, parse_range, render_report, verify_file

    try:
        bounds = Bounds(args.bound, parse_range(args.sizes), parse_range(args.params), args.max_states,
                        args.timeout, reduce=not args.no_reduction)
    except ValueError as exc:
        print(f"minuet verify: {exc}", file=err)
        return 2
    failed = 0
    for path in args.specs:
        report, diags = verify_file(path, bounds)
        if report is None:
            print(render_all(diags, {}) if diags else f"minuet verify: {path} cannot be projected", file=err)
            failed += 1
            continue
        print(render_report(report, path, args.mermaid), file=out if report.outcome == "verified" else err)
        failed += report.outcome != "verified"
    return 1 if failed else 0


def _delegate(module: str, attr: str) -> Callable[[argparse.Namespace, TextIO, TextIO], int]:
    def handler(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        fn = _lazy(module, attr)
        if fn is None:
            return _missing(module, attr, err)
        result = fn(list(args.rest))
        return result if isinstance(result, int) else 0

    return handler


_DELEGATED: dict[str, tuple[str, str]] = {
    "generate": ("codegen.generate", "main"),
    "run": ("runtime.cli", "run_main"),
    "trace": ("runtime.cli", "trace_main"),
    "keys": ("runtime.keys", "main"),
    "node": ("runtime.node", "main"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minuet", description="Multiparty session types for Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="load, validate and project specs; print diagnostics")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.set_defaults(handler=_check)
    p = sub.add_parser("project", help="print the local type of a role (all roles without --role)")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--role", "-r")
    p.set_defaults(handler=_project)
    p = sub.add_parser("graph", help="Mermaid sequence diagram, or DOT state machines per role")
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--format", "-f", choices=("mermaid", "dot"), default="mermaid")
    p.add_argument("--role", "-r")
    p.set_defaults(handler=_graph)
    p = sub.add_parser("lint", help="find generated state objects used twice in user code")
    p.add_argument("paths", nargs="+", metavar="PATH", help="Python files or folders")
    p.set_defaults(handler=_lint)
    p = sub.add_parser("verify", help="explore the projected state machines for deadlocks and orphans")
    p.add_argument("specs", nargs="+", metavar="SPEC")
    p.add_argument("--bound", "-k", type=int, default=2, help="messages a channel holds (default 2)")
    p.add_argument("--sizes", default="1..3", help="members of each [*] family, lo..hi (default 1..3)")
    p.add_argument("--params", default="1..3", help="values of each parameter, lo..hi (default 1..3)")
    p.add_argument("--max-states", type=int, default=200_000, help="per instantiation (default 200000)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per instantiation (default 20)")
    p.add_argument("--no-reduction", action="store_true", help="explore every interleaving")
    p.add_argument("--mermaid", action="store_true", help="also print counterexamples as Mermaid")
    p.set_defaults(handler=_verify)
    for name, text in (
        ("generate", "generate typed modules (see codegen.generate)"),
        ("run", "run a generated protocol (see runtime.cli)"),
        ("trace", "show a recorded trace (see runtime.cli)"),
        ("keys", "create, convert and list member identities (see runtime.keys)"),
        ("node", "a long-running node hosting many sessions (see runtime.node)"),
    ):
        module, attr = _DELEGATED[name]
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
        p.set_defaults(handler=_delegate(module, attr))
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    try:
        return _main(argv, out, err)
    except BrokenPipeError:
        # `minuet graph ... | head`: the reader left; that is not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None, out: TextIO | None, err: TextIO | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        # Options of delegated commands belong to their owners' parsers, not to ours.
        module, attr = _DELEGATED[argv[0]]
        return _delegate(module, attr)(argparse.Namespace(rest=argv[1:]), out or sys.stdout, err or sys.stderr)
    args = build_parser().parse_args(argv)
    handler = cast(Callable[[argparse.Namespace, TextIO, TextIO], int], args.handler)
    return handler(args, out or sys.stdout, err or sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
