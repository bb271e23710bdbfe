"""Imports across spec files: each imported spec becomes callable sub-protocols.

``resolve_imports`` reads every file a spec imports (paths relative to the importing file),
compiles it on its own (load, parse, its own imports, validate, project), and adds to the
importer: its protocol and its sub-protocols as sub-protocols (``origin`` = the file; the
protocol's ``params`` become theirs, bound by each call), its messages, records and guard
variables. A cycle, a missing file, an imported spec with errors, or an imported name that
clashes with a different declaration is reported at the import's location.

Reading is the only effect, through the ``read`` function the caller passes.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from codegen.core.ast import (
    Branch,
    Broadcast,
    Call,
    Choice,
    GuardVar,
    Import,
    IndexParam,
    IndexRange,
    Interaction,
    Loop,
    Message,
    Parallel,
    Param,
    ParamArg,
    Protocol,
    Rec,
    Record,
    RoleDecl,
    RoleRef,
    StepDecl,
    Stmt,
    SubProtocol,
)
from codegen.core.diagnostics import (
    IMPORT_CONFLICT,
    IMPORT_CYCLE,
    IMPORT_INVALID,
    IMPORT_MISSING,
    Diagnostic,
)
from codegen.core.typeexpr import type_text
from codegen.frontend.compose import guard_names
from codegen.frontend.load import load
from codegen.frontend.parse import parse
from codegen.frontend.validate import validate, walk

Reader = Callable[[str], str]
# An imported protocol's projection diagnostics (projection is a later stage: passed in).
Projector = Callable[[Protocol], list[Diagnostic]]

__all__ = ["Projector", "Reader", "import_path", "read_text", "resolve_imports"]


def read_text(path: str) -> str:
    """Read an imported spec as ``read_spec`` reads any spec (size limit, UTF-8)."""
    from codegen.frontend.load import read_spec

    text, problem = read_spec(path, path)
    if problem is not None:
        raise OSError(0, problem.message.removeprefix("cannot read the spec: "))
    return text


def import_path(importer: str, written: str) -> str:
    """The path of an imported file as spans name it: joined to the importer's directory."""
    return os.path.normpath(os.path.join(os.path.dirname(importer), written)).replace(os.sep, "/")


@dataclass
class _Resolver:
    read: Reader
    project: Projector
    sources: dict[str, str] = field(default_factory=dict)
    # path -> the resolved imported protocol (None: it had errors, already reported once)
    done: dict[str, Protocol | None] = field(default_factory=dict)

    def resolve(self, protocol: Protocol, chain: tuple[str, ...], diags: list[Diagnostic]) -> Protocol:
        if not protocol.imports:
            return protocol
        subs = list(protocol.subprotocols)
        messages = list(protocol.messages)
        records = list(protocol.records)
        gvars = list(protocol.guard_vars)
        steps = list(protocol.steps)
        taken = {protocol.name: protocol.file, **{s.name: s.origin or protocol.file for s in subs}}
        seen_paths: set[str] = set()
        for imp in protocol.imports:
            path = import_path(protocol.file, imp.path)
            if path in seen_paths:
                diags.append(Diagnostic(IMPORT_CONFLICT, imp.span, f"{imp.path} is imported twice"))
                continue
            seen_paths.add(path)
            if path in chain:
                cycle = " -> ".join((*chain[chain.index(path):], path))
                diags.append(
                    Diagnostic(IMPORT_CYCLE, imp.span, f"import cycle: {cycle}", "a spec cannot import itself, even through others")
                )
                continue
            imported = self.load(imp, path, chain, diags)
            if imported is None:
                continue
            for sub in _as_subprotocols(imported, path):
                owner = taken.get(sub.name)
                if owner is not None:
                    if owner != sub.origin:  # the same sub reached twice (diamond) is fine
                        diags.append(
                            Diagnostic(
                                IMPORT_CONFLICT,
                                imp.span,
                                f"{imp.path} brings sub-protocol {sub.name}, already declared in {owner}",
                                "rename one of them",
                            )
                        )
                    continue
                taken[sub.name] = sub.origin or path
                subs.append(sub)
            _merge_decls(messages, imported.messages, imp, "message", diags)
            _merge_decls(records, imported.records, imp, "record", diags)
            _merge_vars(gvars, imported.guard_vars, imp, diags)
            _merge_steps(steps, imported.steps, imp, diags)
        return replace(
            protocol,
            subprotocols=tuple(subs),
            messages=tuple(messages),
            records=tuple(records),
            guard_vars=tuple(gvars),
            steps=tuple(steps),
        )

    def load(self, imp: Import, path: str, chain: tuple[str, ...], diags: list[Diagnostic]) -> Protocol | None:
        if path in self.done:
            hit = self.done[path]
            if hit is None:
                diags.append(Diagnostic(IMPORT_INVALID, imp.span, f"{imp.path} has errors (reported above)"))
            return hit

        try:
            text = self.read(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            diags.append(Diagnostic(IMPORT_MISSING, imp.span, f"cannot import {imp.path}: {reason}", f"looked for {path}"))
            return None
        self.sources[path] = text
        own: list[Diagnostic] = []
        root, load_diags = load(text, path)
        own.extend(load_diags)
        protocol: Protocol | None = None
        if root is not None:
            protocol, parse_diags = parse(root, path)
            own.extend(parse_diags)
        if protocol is not None:
            protocol = self.resolve(protocol, (*chain, path), own)
            own.extend(validate(protocol, partial=_errors(own)))
            if not _errors(own):
                own.extend(self.project(protocol))
        if protocol is None or _errors(own):
            diags.extend(own)
            n = sum(1 for d in own if d.severity == "error")
            diags.append(
                Diagnostic(
                    IMPORT_INVALID,
                    imp.span,
                    f"{imp.path} has {n} error{'s' if n != 1 else ''} (reported in {path})",
                    f"run: minuet check {path}",
                )
            )
            self.done[path] = None
            return None
        self.done[path] = protocol
        return protocol


def _errors(diags: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)


def _as_subprotocols(p: Protocol, path: str) -> list[SubProtocol]:
    """The imported protocol and its own sub-protocols, callable from the importer. Each
    gets as parameters those of the imported spec it uses (directly or through its calls);
    its calls to the spec's other sub-protocols pass them on."""
    local = {s.name: s for s in p.subprotocols if s.origin is None}
    declared = tuple(x.name for x in p.params)
    uses = {name: _params_used(s.body, s.roles, declared) for name, s in local.items()}
    changed = True
    while changed:  # a sub uses what the subs it calls use
        changed = False
        for name, s in local.items():
            for c in _calls(s.body):
                extra = uses.get(c.target, frozenset()) - uses[name]
                if extra:
                    uses[name] |= extra
                    changed = True

    def own(names: frozenset[str]) -> tuple[Param, ...]:
        return tuple(x for x in p.params if x.name in names)

    def pass_params(stmts: tuple[Stmt, ...]) -> tuple[Stmt, ...]:
        return _map_calls(stmts, lambda c: _with_params(c, uses[c.target]) if c.target in local else c)

    # A library's own protocol has no body: only its sub-protocols are brought in.
    out = [] if p.library else [SubProtocol(p.name, p.roles, pass_params(p.body), p.span, p.doc, p.params, path)]
    for s in p.subprotocols:
        if s.origin is None:
            out.append(SubProtocol(s.name, s.roles, pass_params(s.body), s.span, s.doc, own(uses[s.name]), path))
        else:
            out.append(s)
    return out


def _calls(stmts: tuple[Stmt, ...]) -> list[Call]:
    return [s for s in walk(stmts) if isinstance(s, Call)]


def _params_used(stmts: tuple[Stmt, ...], roles: tuple[RoleDecl, ...], declared: tuple[str, ...]) -> frozenset[str]:
    """The declared parameters a body names: sizes, indices, ranges, counts, guards, call arguments."""
    names: set[str] = {r.size for r in roles if isinstance(r.size, str)}

    def bound(b: object) -> None:
        if isinstance(b, str):
            names.add(b)

    def ref(r: RoleRef | None) -> None:
        if r is None or r.index is None:
            return
        idx = r.index
        if isinstance(idx, IndexParam):
            names.add(idx.name)
        elif isinstance(idx, IndexRange):
            bound(idx.lo)
            bound(idx.hi)

    for st in walk(stmts):
        match st:
            case Interaction():
                ref(st.sender)
                ref(st.receiver)
            case Broadcast():
                ref(st.sender)
            case Choice():
                ref(st.at)
                for b in st.branches:
                    if b.guard is not None:
                        names.update(guard_names(b.guard.expr, []))
            case Loop():
                ref(st.decides)
                bound(st.count)
            case Call():
                for a in st.args:
                    ref(a)
                for pa in st.params:
                    bound(pa.value)
    return frozenset(names) & frozenset(declared)


def _with_params(c: Call, names: frozenset[str]) -> Call:
    given = {pa.name for pa in c.params}
    extra = tuple(ParamArg(n, n, c.span) for n in sorted(names) if n not in given)
    return Call(c.target, c.args, c.span, c.params + extra)


def _map_calls(stmts: tuple[Stmt, ...], f: Callable[[Call], Call]) -> tuple[Stmt, ...]:
    out: list[Stmt] = []
    for s in stmts:
        match s:
            case Call():
                out.append(f(s))
            case Choice():
                bs = tuple(Branch(b.label, _map_calls(b.body, f), b.span, b.guard) for b in s.branches)
                out.append(Choice(s.at, bs, s.span, s.failure))
            case Rec():
                out.append(Rec(s.name, _map_calls(s.body, f), s.span))
            case Loop():
                out.append(Loop(_map_calls(s.body, f), s.span, s.count, s.decides))
            case Parallel():
                out.append(Parallel(tuple(_map_calls(b, f) for b in s.branches), s.span))
            case _:
                out.append(s)
    return tuple(out)


def _shape(d: Message | Record) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, type_text(f.type)) for f in d.fields)


def _merge_decls(
    into: list[Message] | list[Record],
    new: tuple[Message, ...] | tuple[Record, ...],
    imp: Import,
    what: str,
    diags: list[Diagnostic],
) -> None:
    """Add imported declarations; the same one twice (same fields and types) is one."""
    have: dict[str, Message | Record] = {d.name: d for d in into}
    for d in new:
        old = have.get(d.name)
        if old is None:
            have[d.name] = d
            into.append(d)  # type: ignore[arg-type]  # a list of messages gets messages
        elif _shape(old) != _shape(d):
            diags.append(
                Diagnostic(
                    IMPORT_CONFLICT,
                    imp.span,
                    f"{imp.path} declares {what} {d.name} with other fields than {old.span.file}:{old.span.line}",
                    "declare it once, in the imported spec, or rename one",
                )
            )


def _merge_vars(into: list[GuardVar], new: tuple[GuardVar, ...], imp: Import, diags: list[Diagnostic]) -> None:
    have = {v.name: v for v in into}
    for v in new:
        old = have.get(v.name)
        if old is None:
            have[v.name] = v
            into.append(v)
        elif type_text(old.type) != type_text(v.type):
            diags.append(
                Diagnostic(IMPORT_CONFLICT, imp.span, f"{imp.path} declares guard variable {v.name} with another type")
            )


def _merge_steps(into: list[StepDecl], new: tuple[StepDecl, ...], imp: Import, diags: list[Diagnostic]) -> None:
    def shape(st: StepDecl) -> tuple[str, str]:
        return (
            "" if st.input is None else type_text(st.input),
            "" if st.output is None else type_text(st.output),
        )

    have = {st.name: st for st in into}
    for st in new:
        old = have.get(st.name)
        if old is None:
            have[st.name] = st
            into.append(st)
        elif shape(old) != shape(st):
            diags.append(
                Diagnostic(IMPORT_CONFLICT, imp.span, f"{imp.path} declares local step {st.name} with other types")
            )


def resolve_imports(
    protocol: Protocol, project: Projector, read: Reader = read_text
) -> tuple[Protocol, list[Diagnostic], dict[str, str]]:
    """``protocol`` with its imports resolved, the diagnostics, and the sources read.

    ``project`` returns the projection diagnostics of an imported protocol: an import is
    checked as a whole spec, and projection is a later stage, so the caller passes it in."""
    r = _Resolver(read, project)
    diags: list[Diagnostic] = []
    out = r.resolve(protocol, (import_path("", protocol.file),), diags)
    return out, diags, r.sources
