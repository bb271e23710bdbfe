"""``minuet``: a thin shell over the compiler stages and the runtime.

Every subcommand is one ``Command`` row in ``COMMANDS``: a name, a help line, a function
that adds its options to an ``argparse`` parser, and a handler. Adding a subcommand is
adding a row. Exit status for every subcommand: 0 clean, 1 findings (spec errors, lint
findings, stale output, a session that failed), 2 usage, configuration or I/O error.

Compiler modules are imported inside the handlers that need them: ``minuet run`` works in a
process that has only the runtime's dependencies (see ``pyproject.toml``, extra ``compiler``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from codegen.core.diagnostics import NOT_GENERABLE, UNREADABLE_FILE
from runtime import cli as runtime_cli

if TYPE_CHECKING:
    from codegen.core.diagnostics import Diagnostic, Format
    from codegen.pipeline import Compiled

_COMPILER_DEPS = frozenset({"yaml", "libcst"})
Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


class UsageError(Exception):
    """A mistake in the command line or a path that cannot be read: exit status 2."""


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Handler
    # Commands whose options belong to another parser (the runtime's) get the raw arguments.
    raw: bool = False


def version() -> str:
    try:
        return metadata.version("minuet")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


# ---------------------------------------------------------------- shared helpers


def _spec_files(paths: Sequence[str]) -> list[str]:
    """Spec files given directly or found (``*.yaml``, ``*.yml``, recursively) under given
    folders, searched as ``generate`` searches them."""
    from codegen.generate import find_specs

    files: list[str] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files += [str(f) for f in find_specs(path)]
        elif path.exists():
            files.append(p)
        else:
            raise UsageError(f"{p}: no such file or folder")
    return files


def _default_specs() -> list[str]:
    from codegen.generate import UsageError as ConfigError
    from codegen.generate import resolve

    try:
        settings = resolve([], None, Path.cwd())
    except ConfigError as e:
        raise UsageError(str(e)) from e
    return [str(p) for p in settings.specs]


def _compile(path: str, err: TextIO) -> Compiled | None:
    """One spec file for ``project`` and ``graph``; diagnostics printed, None when it failed
    (an unreadable file is a usage error)."""
    from codegen.core.diagnostics import render_all
    from codegen.pipeline import compile_file

    if not Path(path).is_file():
        raise UsageError(f"{path}: {'a folder, not a spec file' if Path(path).is_dir() else 'no such file'}")
    compiled = compile_file(path)
    unreadable = [d for d in compiled.diagnostics if d.code == UNREADABLE_FILE]
    if unreadable:
        raise UsageError(f"{path}: {unreadable[0].message}")
    if compiled.diagnostics:
        print(render_all(compiled.diagnostics, compiled.sources(path)), file=err)
    return compiled if compiled.ok else None


def _format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="diagnostics as text (stderr), one JSON document or GitHub annotations (stdout)")


# ---------------------------------------------------------------- check, lint


def _check_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="*", metavar="SPEC",
                   help="spec files or folders (default: the project's specs, as for generate)")
    _format_option(p)


def _check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.core.diagnostics import format_all
    from codegen.pipeline import compile_file

    fmt: Format = args.format
    files = _spec_files(args.specs or _default_specs())
    diags: list[Diagnostic] = []
    sources: dict[str, str] = {}
    failed = 0
    for path in files:
        compiled = compile_file(path)
        diags += compiled.diagnostics
        sources.update(compiled.sources(path))
        if compiled.ok:
            if fmt == "text":
                p = compiled.protocol
                lib = p is not None and p.library
                n = 0 if p is None else sum(s.origin is None for s in p.subprotocols)
                print(f"ok: {path}" + (f" (a library of {n} sub-protocol{'s' if n != 1 else ''}: no module)" if lib else ""), file=out)
        else:
            failed += 1
    text = format_all(diags, sources, fmt)
    if text:
        print(text, file=err if fmt == "text" else out)
    if failed and fmt == "text":
        print(f"{failed} of {len(files)} spec{'s' if len(files) != 1 else ''} failed", file=err)
    return _status(diags) if failed else 0


def _status(diags: Sequence[Diagnostic]) -> int:
    """1 for findings; 2 when a file could not be read at all (an I/O error, M113)."""
    return 2 if any(d.code == UNREADABLE_FILE for d in diags) else 1


def _lint_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="Python files or folders")
    _format_option(p)


def _lint(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.analysis.lint import lint_paths
    from codegen.core.diagnostics import format_all

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        raise UsageError("; ".join(f"{p}: no such file or folder" for p in missing))
    diagnostics, sources = lint_paths(args.paths)
    fmt: Format = args.format
    if fmt != "text":
        text = format_all(diagnostics, sources, fmt)
        if text:
            print(text, file=out)
    elif diagnostics:
        print(format_all(diagnostics, sources, fmt), file=err)
    else:
        print(f"ok: {len(sources)} file{'s' if len(sources) != 1 else ''}, no state used twice", file=out)
    return 1 if any(d.severity == "error" for d in diagnostics) else 0


# ---------------------------------------------------------------- project, graph


def _one_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", metavar="SPEC")
    p.add_argument("--role", "-r")


def _roles(compiled: Compiled, role: str | None, spec: str, err: TextIO) -> list[str] | None:
    from codegen.core.diagnostics import did_you_mean

    if role is None:
        return sorted(compiled.locals)
    if role not in compiled.locals:
        hint = did_you_mean(role, compiled.locals)
        print(f"minuet: no role {role!r} in {spec}{'; ' + hint if hint else ''}", file=err)
        return None
    return [role]


def _project(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.backend.views import render_local

    compiled = _compile(args.spec, err)
    if compiled is None:
        return 1
    roles = _roles(compiled, args.role, args.spec, err)
    if roles is None:
        return 2
    for role in roles:
        print(render_local(compiled.locals[role]), file=out)
    return 0


def _graph_options(p: argparse.ArgumentParser) -> None:
    _one_spec(p)
    p.add_argument("--format", "-f", choices=("mermaid", "dot"), default="mermaid")


def _graph(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.core.diagnostics import Diagnostic, render_all
    from codegen.projection.fsm import FsmError

    try:
        return _draw(args, out, err)
    except FsmError as e:  # a shape the generator refuses (M600) has no state machine to draw
        print(render_all([Diagnostic(NOT_GENERABLE, e.span, str(e))], {}), file=err)
        return 1


def _draw(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.backend.views import dot, mermaid

    compiled = _compile(args.spec, err)
    if compiled is None or compiled.protocol is None:
        return 1
    if args.format == "mermaid" and args.role is None:
        print(mermaid(compiled.protocol), file=out)
        return 0
    roles = _roles(compiled, args.role, args.spec, err)
    if roles is None:
        return 2
    if args.format == "mermaid":
        from codegen.backend.views import mermaid_states

        print(mermaid_states(compiled.locals[roles[0]]), file=out)
        return 0
    print(dot([compiled.locals[r] for r in roles]), file=out)
    return 0


# ---------------------------------------------------------------- verify


def _verify_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("specs", nargs="+", metavar="SPEC", help="spec files or folders")
    p.add_argument("--bound", "-k", type=int, default=2, help="messages a channel holds (default 2)")
    p.add_argument("--sizes", default="1..3", help="members of each [*] family, lo..hi (default 1..3)")
    p.add_argument("--params", default="1..3", help="values of each parameter, lo..hi (default 1..3)")
    p.add_argument("--max-states", type=int, default=200_000, help="per instantiation (default 200000)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per instantiation (default 20)")
    p.add_argument("--no-reduction", action="store_true", help="explore every interleaving")
    p.add_argument("--mermaid", action="store_true", help="also print counterexamples as Mermaid")


def _verify(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen.analysis.verify import Bounds, parse_range, render_report, verify_file
    from codegen.core.diagnostics import render_all

    try:
        bounds = Bounds(args.bound, parse_range(args.sizes), parse_range(args.params), args.max_states,
                        args.timeout, reduce=not args.no_reduction)
    except ValueError as exc:
        raise UsageError(f"verify: {exc}") from None
    failed = 0
    for path in _spec_files(args.specs):
        report, diags = verify_file(path, bounds)
        if report is None:
            print(render_all(diags, {}) if diags else f"minuet verify: {path} cannot be projected", file=err)
            failed += 1
            continue
        print(render_report(report, path, args.mermaid), file=out if report.outcome == "verified" else err)
        failed += report.outcome != "verified"
    return 1 if failed else 0


# ---------------------------------------------------------------- generate, run, trace


def _raw(p: argparse.ArgumentParser) -> None:
    p.add_argument("rest", nargs=argparse.REMAINDER)


def _generate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from codegen import generate

    return generate.main(list(args.rest), out, err)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return runtime_cli.run_main(list(args.rest), out, err)


def _trace(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return runtime_cli.trace_main(list(args.rest))


def _simulate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return runtime_cli.simulate_main(list(args.rest))


def _keys(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from runtime import keytool

    return keytool.main(list(args.rest))


def _node(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from runtime import node

    return node.main(list(args.rest))


def _no_options(p: argparse.ArgumentParser) -> None:
    pass


def _schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The spec JSON Schema, for editors (``minuet schema > minuet.schema.json``)."""
    out.write((Path(__file__).parent / "spec.schema.json").read_text(encoding="utf-8"))
    return 0


COMMANDS: tuple[Command, ...] = (
    Command("check", "load, validate and project specs; print diagnostics", _check_options, _check),
    Command("generate", "generate typed modules from specs (see codegen.generate)", _raw, _generate, raw=True),
    Command("lint", "find generated state objects used twice in user code", _lint_options, _lint),
    Command("project", "print the local type of a role (all roles without --role)", _one_spec, _project),
    Command("graph", "Mermaid sequence diagram, or DOT state machines (one cluster per role)",
            _graph_options, _graph),
    Command("verify", "explore the projected state machines for deadlocks and orphans", _verify_options, _verify),
    Command("run", "run roles of a generated protocol: --memory, or one member over TCP", _raw, _run, raw=True),
    Command("trace", "show a recorded trace: Mermaid, the states at step K (--at), --step",
            _raw, _trace, raw=True),
    Command("simulate", "deterministic simulation of role programs over many seeds",
            _raw, _simulate, raw=True),
    Command("keys", "create, convert and list member identities (Ed25519)", _raw, _keys, raw=True),
    Command("node", "a long-running node hosting many sessions", _raw, _node, raw=True),
    Command("schema", "print the JSON Schema of specs (for editors)", _no_options, _schema),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minuet", description="Multiparty session types for Python.")
    parser.add_argument("--version", action="version", version=f"minuet {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for c in COMMANDS:
        p = sub.add_parser(c.name, help=c.help, add_help=not c.raw)
        c.configure(p)
        p.set_defaults(handler=c.run)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return _main(list(sys.argv[1:] if argv is None else argv), out, err)
    except SystemExit as e:  # argparse: usage errors (2), --help and --version (0)
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    except UsageError as e:
        print(f"minuet: {e}", file=err)
        return 2
    except ImportError as e:
        if e.name not in _COMPILER_DEPS:
            raise
        # A runtime-only install: the compiler's dependencies are an extra.
        print(f"minuet: {e}; the compiler needs `pip install 'minuet[compiler]'`", file=err)
        return 2
    except (OSError, UnicodeDecodeError) as e:
        if isinstance(e, BrokenPipeError):
            # `minuet graph ... | head`: the reader left; that is not an error worth a traceback.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141
        print(f"minuet: {e}", file=err)
        return 2
    except KeyboardInterrupt:
        return 130


def _main(argv: list[str], out: TextIO, err: TextIO) -> int:
    raw = {c.name: c for c in COMMANDS if c.raw}
    if argv and argv[0] in raw:
        # Options of these commands belong to their own parsers, not to ours.
        return raw[argv[0]].run(argparse.Namespace(rest=argv[1:]), out, err)
    args = build_parser().parse_args(argv)
    return cast(Handler, args.handler)(args, out, err)


if __name__ == "__main__":
    sys.exit(main())
