"""``minuet lint``: the static half of linearity. A generated state object may be used once;
the runtime raises ``LinearityError`` on a second use, this finds it before the code runs.

Pure core: ``lint_source(text, path)`` returns located diagnostics (M700-M703). It reads user
code with the standard ``ast`` module and follows, per function, which names hold states:

* a parameter annotated with a generated state class (``Client_S0``, ``Client_End``, a join
  token ``Client_S0_Join``; matched by the generator's naming scheme);
* the result of ``start_<role>(ep)``;
* what a state's method returns: ``s2 = await s1.send_x(...)``, the last element of
  ``msg, s2 = await s1.recv_x()``, every element of ``token, a, b = await s.fork()``, and the
  ``.state`` of the variant that ``offer()`` / ``next()`` return (``r.state``, or
  ``case X(state=s2)`` in a ``match``).

A state is *used* when one of its methods is called, when it is passed to a call, returned,
or moved to another name (``t = s``). Reading a property (``s.iteration``) is no use.
Control flow is followed: a state used on one branch of an ``if``/``match``/``try`` and then
again after it is reported as possibly reused (M701), and a state bound before a loop and
used in the loop body without being rebound there is reused by the next iteration (M702).

Sound for straight-line role code, which is what generated APIs lead to; it does not follow
states through containers, attributes of other objects or other functions (those uses are
still caught at run time).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from codegen.diagnostics import Diagnostic, sort_diagnostics
from codegen.span import Span

__all__ = ["lint_paths", "lint_source"]

# The generator's state class names: <Role>_S<n>, <Role>_End, and <Role>_S<n>_<Suffix> for
# offer variants and join tokens (a variant is no state itself; its ``.state`` is).
STATE_CLASS: Final = re.compile(r"^[A-Z][A-Za-z0-9]*_(?:S\d+(?:_Join)?|End)$")
_VARIANT_METHODS: Final = frozenset({"offer", "next"})


@dataclass(frozen=True, slots=True)
class Use:
    """Where a state was used: line and column (1-based) and how."""

    line: int
    col: int
    how: str


@dataclass(frozen=True, slots=True)
class Consumed:
    use: Use
    certain: bool  # used on every path that reaches here (else on some path)
    in_loop: bool = False  # used by an earlier iteration of an enclosing loop


# Per path: name -> None (a live state) or how it was consumed. BOTTOM: the path ended.
Env = dict[str, Consumed | None]
BOTTOM: Final[Env | None] = None


def _merge(a: Env | None, b: Env | None) -> Env | None:
    if a is None:
        return None if b is None else dict(b)
    if b is None:
        return dict(a)
    out: Env = {}
    for name in a.keys() | b.keys():
        x, y = a.get(name), b.get(name)
        if name not in a or name not in b:
            # Bound on one path only: keep what that path knows.
            out[name] = x if name in a else y
        elif x is None and y is None:
            out[name] = None
        elif x is not None and y is not None:
            out[name] = Consumed(x.use, x.certain and y.certain, x.in_loop or y.in_loop)
        else:
            c = x if x is not None else y
            assert c is not None
            out[name] = Consumed(c.use, False, c.in_loop)
    return out


# What evaluating an expression yields, for binding it to names.
@dataclass(frozen=True, slots=True)
class _Value:
    kind: str  # "state" | "variant" | "fork" | "pair" | "other"
    alias: str | None = None  # the state reference a bare ``s`` / ``r.state`` names


_OTHER: Final = _Value("other")


@dataclass
class _Loop:
    breaks: list[Env] = field(default_factory=list)


class _Function:
    """Linearity of one function body."""

    def __init__(self, path: str, report: list[Diagnostic]) -> None:
        self.path = path
        self.report = report
        self.variants: set[str] = set()
        self.loops: list[_Loop] = []
        self.seen: set[tuple[int, int, str]] = set()

    # -- diagnostics -------------------------------------------------------------------------

    def _flag(self, node: ast.expr, name: str, how: str, prior: Consumed) -> None:
        key = (node.lineno, node.col_offset, name)
        if key in self.seen:
            return
        self.seen.add(key)
        first = f"{prior.use.how} at line {prior.use.line}"
        span = Span(
            self.path,
            node.lineno,
            node.col_offset + 1,
            node.end_lineno or node.lineno,
            (node.end_col_offset or node.col_offset) + 1,
        )
        if prior.in_loop:
            code = "M702"
            message = (
                f"state '{name}' is used again by the next iteration of the loop: {how} here, "
                f"{first} in the previous one"
            )
            hint = f"rebind '{name}' in the loop body to the state each step returns"
        elif prior.certain:
            code = "M700"
            message = f"state '{name}' is used twice: {how} here, {first} already used it"
            hint = "a state object can be used once: continue with the state its method returned"
        else:
            code = "M701"
            message = (
                f"state '{name}' may be used twice: {how} here, {first} may already have "
                "used it (on some path)"
            )
            hint = "use each state once on every path, or rebind it on the path that used it"
        self.report.append(Diagnostic(code, span, message, hint))

    def _use(self, env: Env, node: ast.expr, name: str, how: str) -> None:
        prior = env.get(name)
        use = Consumed(Use(node.lineno, node.col_offset + 1, how), True)
        if prior is None:
            env[name] = use
            return
        self._flag(node, name, how, prior)
        if not prior.certain or prior.in_loop:
            # Whatever held before, the state is used on every path from here on, and this
            # is the use to name in a later finding.
            env[name] = use

    # -- references -------------------------------------------------------------------------

    def _ref(self, node: ast.expr, env: Env) -> str | None:
        """The state reference ``node`` names, if any: ``s`` or ``r.state``."""
        if isinstance(node, ast.Name) and node.id in env:
            return node.id
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "state"
            and isinstance(node.value, ast.Name)
            and node.value.id in self.variants
        ):
            return f"{node.value.id}.state"
        return None

    # -- expressions ------------------------------------------------------------------------

    def expr(self, node: ast.expr | None, env: Env) -> _Value:
        if node is None:
            return _OTHER
        if isinstance(node, ast.Await):
            return self.expr(node.value, env)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        ref = self._ref(node, env)
        if ref is not None:
            return _Value("state", alias=ref)
        if isinstance(node, ast.Lambda | ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp):
            # Deferred or scoped code: its uses are not on this path.
            return _OTHER
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, env)
        return _OTHER

    def _call(self, node: ast.Call, env: Env) -> _Value:
        func = node.func
        result = _OTHER
        receiver = self._ref(func.value, env) if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and receiver is not None:
            self._use(env, func.value, receiver, f"{func.attr}()")
            if func.attr in _VARIANT_METHODS:
                result = _Value("variant")
            elif func.attr == "fork":
                result = _Value("fork")
            else:
                result = _Value("pair")  # a state, or (message(s), state) for a receive
        else:
            self.expr(func, env)
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee.startswith("start_"):
                result = _Value("state")
        callee_name = ast.unparse(func)
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            inner = arg.value if isinstance(arg, ast.Starred) else arg
            ref = self._ref(inner, env)
            if ref is not None:
                self._use(env, inner, ref, f"passing it to {callee_name}()")
            else:
                self.expr(inner, env)
        return result

    # -- binding ----------------------------------------------------------------------------

    def _bind_state(self, env: Env, name: str) -> None:
        env[name] = None
        self.variants.discard(name)

    def _unbind(self, env: Env, name: str) -> None:
        env.pop(name, None)
        self.variants.discard(name)

    def bind(self, target: ast.expr, value: _Value, env: Env, source: ast.expr | None) -> None:
        if value.alias is not None and source is not None:
            # ``t = s``: the state moves to ``t``.
            self._use(env, source, value.alias, f"moving it to {ast.unparse(target)}")
            value = _Value("state")
        if isinstance(target, ast.Name):
            if value.kind in ("state", "pair", "fork"):
                self._bind_state(env, target.id)
            elif value.kind == "variant":
                self._unbind(env, target.id)
                self.variants.add(target.id)
                env.pop(f"{target.id}.state", None)
            else:
                self._unbind(env, target.id)
        elif isinstance(target, ast.Tuple | ast.List):
            names = target.elts
            for k, elt in enumerate(names):
                is_state = value.kind == "fork" or (value.kind == "pair" and k == len(names) - 1)
                self.bind(elt, _Value("state" if is_state else "other"), env, None)
        elif isinstance(target, ast.Starred):
            self.bind(target.value, _OTHER, env, None)
        else:
            self.expr(target, env)

    # -- statements -------------------------------------------------------------------------

    def block(self, body: Sequence[ast.stmt], env: Env | None) -> Env | None:
        for stmt in body:
            if env is None:
                return None  # the rest is unreachable on this path
            env = self.stmt(stmt, env)
        return env

    def stmt(self, node: ast.stmt, env: Env) -> Env | None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            _analyze_definitions([node], self.path, self.report)
            return env
        if isinstance(node, ast.Expr):
            self.expr(node.value, env)
            return BOTTOM if _never_returns(node.value) else env
        if isinstance(node, ast.Assign):
            value = self.expr(node.value, env)
            for target in node.targets:
                self.bind(target, value, env, node.value)
            return env
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return env
            value = self.expr(node.value, env)
            if _is_state_annotation(node.annotation) and value.kind == "other":
                value = _Value("state")
            self.bind(node.target, value, env, node.value)
            return env
        if isinstance(node, ast.AugAssign):
            self.expr(node.value, env)
            return env
        if isinstance(node, ast.Return):
            ref = self._ref(node.value, env) if node.value is not None else None
            if ref is not None and node.value is not None:
                self._use(env, node.value, ref, "returning it")
            else:
                self.expr(node.value, env)
            return BOTTOM
        if isinstance(node, ast.Raise):
            self.expr(node.exc, env)
            return BOTTOM
        if isinstance(node, ast.If):
            self.expr(node.test, env)
            return _merge(self.block(node.body, dict(env)), self.block(node.orelse, dict(env)))
        if isinstance(node, ast.While):
            self.expr(node.test, env)
            return self._loop(node.body, node.orelse, env)
        if isinstance(node, ast.For | ast.AsyncFor):
            self.expr(node.iter, env)
            return self._loop(node.body, node.orelse, env, target=node.target)
        if isinstance(node, ast.Break):
            if self.loops:
                self.loops[-1].breaks.append(dict(env))
            return BOTTOM
        if isinstance(node, ast.Continue):
            return BOTTOM
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                value = self.expr(item.context_expr, env)
                if item.optional_vars is not None:
                    self.bind(item.optional_vars, value, env, None)
            return self.block(node.body, env)
        if isinstance(node, ast.Try | ast.TryStar):
            return self._try(node, env)
        if isinstance(node, ast.Match):
            return self._match(node, env)
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, env)
        return env

    def _loop(
        self,
        body: list[ast.stmt],
        orelse: list[ast.stmt],
        env: Env,
        target: ast.expr | None = None,
    ) -> Env | None:
        loop = _Loop()
        self.loops.append(loop)

        def once(start: Env) -> Env | None:
            inner = dict(start)
            if target is not None:
                self.bind(target, _OTHER, inner, None)
            return self.block(body, inner)

        first = once(env)
        # The second pass starts where an iteration may start: before the loop or after any
        # iteration. What the first pass used and did not rebind is "used by the previous
        # iteration" there.
        carried = {
            k: (Consumed(v.use, v.certain, True) if v is not None and env.get(k) is None else v)
            for k, v in (first or {}).items()
        }
        second = once(_merge(env, carried) or env)
        self.loops.pop()
        after = _merge(env, _merge(first, second))
        for b in loop.breaks:
            after = _merge(after, b)
        if after is None:
            return None
        # Past the loop a use by its body is an ordinary earlier use (on some path, as the
        # body may have run zero times), not one by "the previous iteration".
        after = {
            k: Consumed(v.use, v.certain, False) if v is not None else None for k, v in after.items()
        }
        return self.block(orelse, after)

    def _try(self, node: ast.Try | ast.TryStar, env: Env) -> Env | None:
        body = self.block(node.body, dict(env))
        # A handler may run after any prefix of the body: start it from both ends.
        handler_start = _merge(env, body) or dict(env)
        out = self.block(node.orelse, body) if body is not None else None
        for handler in node.handlers:
            h_env = dict(handler_start)
            if handler.name:
                self._unbind(h_env, handler.name)
            out = _merge(out, self.block(handler.body, h_env))
        if node.finalbody:
            return self.block(node.finalbody, out if out is not None else dict(handler_start))
        return out

    def _match(self, node: ast.Match, env: Env) -> Env | None:
        subject = self.expr(node.subject, env)
        is_variant = subject.kind == "variant" or (
            isinstance(node.subject, ast.Name) and node.subject.id in self.variants
        )
        last = node.cases[-1] if node.cases else None
        irrefutable = (
            last is not None
            and last.guard is None
            and isinstance(last.pattern, ast.MatchAs)
            and last.pattern.pattern is None
        )
        # A match on offer()/next() covers every variant (mypy --strict with assert_never
        # holds role code to that), so no path skips all cases; otherwise one may.
        out: Env | None = None if is_variant or irrefutable else dict(env)
        for case in node.cases:
            c_env = dict(env)
            for name, is_state in _captures(case.pattern):
                if is_state:
                    self._bind_state(c_env, name)
                else:
                    self._unbind(c_env, name)
            if case.guard is not None:
                self.expr(case.guard, c_env)
            out = _merge(out, self.block(case.body, c_env))
        return out


def _captures(pattern: ast.pattern) -> Iterator[tuple[str, bool]]:
    """Names a pattern binds, and whether each is a variant's ``state``."""
    if isinstance(pattern, ast.MatchClass):
        for attr, sub in zip(pattern.kwd_attrs, pattern.kwd_patterns, strict=True):
            if attr == "state" and isinstance(sub, ast.MatchAs) and sub.name and sub.pattern is None:
                yield sub.name, True
            else:
                yield from _captures(sub)
        for sub in pattern.patterns:
            yield from _captures(sub)
        return
    if isinstance(pattern, ast.MatchAs):
        if pattern.pattern is not None:
            yield from _captures(pattern.pattern)
        if pattern.name:
            yield pattern.name, False
        return
    if isinstance(pattern, ast.MatchOr):
        for sub in pattern.patterns:
            yield from _captures(sub)
        return
    for child in ast.iter_child_nodes(pattern):
        if isinstance(child, ast.pattern):
            yield from _captures(child)
    if isinstance(pattern, ast.MatchStar | ast.MatchMapping):
        rest = pattern.name if isinstance(pattern, ast.MatchStar) else pattern.rest
        if rest:
            yield rest, False


# Calls that end the path (NoReturn): ``case other: assert_never(other)`` is no fallthrough.
_NO_RETURN: Final = frozenset({"assert_never", "exit", "_exit", "quit"})


def _never_returns(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in _NO_RETURN


def _is_state_annotation(node: ast.expr | None) -> bool:
    if node is None:
        return False
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(STATE_CLASS.match(node.value.rsplit(".", 1)[-1]))
    if isinstance(node, ast.Name):
        return bool(STATE_CLASS.match(node.id))
    if isinstance(node, ast.Attribute):
        return bool(STATE_CLASS.match(node.attr))
    return False


def _analyze_definitions(nodes: Iterable[ast.stmt], path: str, report: list[Diagnostic]) -> None:
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            _analyze_definitions(node.body, path, report)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fn = _Function(path, report)
            env: Env = {}
            args = node.args
            for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if _is_state_annotation(a.annotation):
                    env[a.arg] = None
            fn.block(node.body, env)


def lint_source(text: str, path: str) -> tuple[Diagnostic, ...]:
    """Every linearity finding of one Python module, sorted."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        span = Span(path, e.lineno or 1, e.offset or 1)
        return (Diagnostic("M703", span, f"not valid Python: {e.msg}", "fix the syntax first"),)
    report: list[Diagnostic] = []
    top = _Function(path, report)
    # Module-level code is one more body (scripts drive roles there too).
    _analyze_definitions(tree.body, path, report)
    top.block([s for s in tree.body if not isinstance(s, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)], {})
    return sort_diagnostics(report)


def lint_paths(paths: Iterable[str]) -> tuple[tuple[Diagnostic, ...], dict[str, str]]:
    """Lint files (folders: every ``*.py`` below); diagnostics and the sources read."""
    sources: dict[str, str] = {}
    found: list[Diagnostic] = []
    for p in paths:
        root = Path(p)
        files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
        for f in files:
            name = str(f)
            try:
                sources[name] = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                found.append(
                    Diagnostic("M703", Span(name, 0, 0), f"cannot read the file: {e}", "")
                )
                continue
            found.extend(lint_source(sources[name], name))
    return sort_diagnostics(found), sources
