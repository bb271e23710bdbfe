"""``minuet lint``: the static half of linearity. A generated state object may be used once;
the runtime raises ``LinearityError`` on a second use, this finds it before the code runs.

Pure core: ``lint_source(text, path)`` returns located diagnostics (M700-M704). It reads user
code with the standard ``ast`` module and follows, per function, which names hold states:

* a parameter annotated with a generated state class (``Client_S0``, ``Client_End``, a join
  token ``Client_S0_Join``, a taking state ``Worker_S1_Part``; by the generator's naming);
* the result of ``start_<role>(ep)``, and of a user function annotated to return a state
  class (or a tuple ending in one);
* what a state's method returns: ``s2 = await s1.send_x(...)``, the last element of
  ``msg, s2 = await s1.recv_x()``, every element of ``token, a, b = await s.fork()``, and the
  ``.state`` of the variant that ``offer()`` / ``next()`` / ``participation()`` return
  (``r.state``, or ``case X(state=s2)`` in a ``match``);
* an attribute assigned a state (``self.s = s``), and in every method a class's attributes
  that hold one between calls; a walrus target.

A state is *used* when one of its methods is called or taken uncalled (a bound method),
when it is passed to a call, returned, moved to another name (``t = s``), stored in a
container or attribute, or captured by a nested function or lambda (which then holds it:
calling that twice is a double use). Reading a property (``s.iteration``) is no use.
Control flow is followed: a state used on one branch of an ``if``/``match``/``try`` and then
again after it is reported as possibly reused (M701), and a state bound before a loop and
used in the body without being rebound there is reused by the next iteration (M702).
M704: a variant result handled by a catch-all instead of by every variant and
``assert_never``.

Not followed (still caught at run time): states taken back out of containers, and states
used inside other functions they were passed to (each function is checked on its own).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from codegen.core.diagnostics import (
    LINT_UNREADABLE,
    STATE_MAYBE_REUSED,
    STATE_REUSED,
    STATE_REUSED_IN_LOOP,
    VARIANT_UNMATCHED,
    Diagnostic,
    sort_diagnostics,
)
from codegen.core.gc import gc_paused
from codegen.core.span import Span

__all__ = ["lint_paths", "lint_source"]

# The generator's state class names: <Role>_S<n>, <Role>_End, and <Role>_S<n>_<Suffix> for
# offer variants and join tokens (a variant is no state itself; its ``.state`` is).
STATE_CLASS: Final = re.compile(r"^[A-Z][A-Za-z0-9]*_(?:S\d+(?:_Join|_Part)?|End)$")
_VARIANT_METHODS: Final = frozenset({"offer", "next", "participation"})
# Builtins that look at an object without keeping or calling it: no use.
_INSPECTING: Final = frozenset({"isinstance", "type", "id"})
# State attributes that read without using the state (properties).
_PROPERTIES: Final = frozenset({"iteration"})


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
    # "state" | "variant" | "fork" | "pair" | "other", or "holder": a callable that owns a
    # state (a bound method of one, or a closure that captured one), used by calling it.
    kind: str
    alias: str | None = None  # the state reference a bare ``s`` / ``r.state`` names
    result: str = "other"  # for a holder: the kind its call returns


_OTHER: Final = _Value("other")


@dataclass
class _Loop:
    breaks: list[Env] = field(default_factory=list)


class _Module:
    """What one module tells every function in it: which user functions return states."""

    def __init__(self, path: str, report: list[Diagnostic], tree: ast.Module) -> None:
        self.path = path
        self.report = report
        # Function name -> what calling it returns, from its return annotation: a helper
        # ``async def step(s: X_S0) -> X_S1`` hands back a state like a state method does.
        self.returns: dict[str, str] = {}
        # Imported name -> the module it may be (``from pkg import mod``, ``import m as x``)
        # or the module it comes from (``from mod import Cls``): (module, submodule).
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.tables: dict[str, dict[str, tuple[str, ...]] | None] = {}  # by module
        self._chooser_cache: frozenset[str] | None = None
        for node in _statements(tree.body):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kind = _returned_kind(node.returns)
                if kind != "other":
                    self.returns[node.name] = kind
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, f"{node.module}.{alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = (alias.name, None)

    def method_result(self, method: str) -> str:
        """What calling a state's method returns, by its name: a ``do_<step>`` returns
        variants when some generated module this one imports says so."""
        if method.startswith("do_") and method in self.choosers():
            return "variant"
        return _method_result(method)

    def choosers(self) -> frozenset[str]:
        if self._chooser_cache is None:
            found: set[str] = set()
            for pair in self.imports.values():
                for mod in pair:
                    if mod and mod not in self.tables:
                        self.tables[mod] = _variant_table(mod, self.path)
                    if mod:
                        found |= _CHOOSERS.get(mod, set())
            self._chooser_cache = frozenset(found)
        return self._chooser_cache

    def variants_of(self, cls: ast.expr) -> tuple[str, tuple[str, ...]] | None:
        """The state and every variant of the method result that class pattern ``cls`` (one
        variant, e.g. ``tb.Seller_S3_Address``) belongs to, read from the generated module
        it is imported from; None when that module cannot be found."""
        name = _last_name(cls)
        if isinstance(cls, ast.Attribute):
            base = _dotted(cls.value) if isinstance(cls.value, ast.Attribute) else getattr(cls.value, "id", None)
            hit = self.imports.get(base or "")
            modules = [m for m in ((hit[1], hit[0]) if hit else ()) if m]
            if base and not hit:
                modules = [base]  # ``import generated.x.y`` used as ``generated.x.y.Cls``
        else:
            hit = self.imports.get(name)
            modules = [hit[0]] if hit else []
        for mod in modules:
            if mod not in self.tables:
                self.tables[mod] = _variant_table(mod, self.path)
            table = self.tables[mod]
            for state, variants in (table or {}).items():
                if name in variants:
                    return state, variants
        return None


class _Function:
    """Linearity of one function body."""

    def __init__(self, module: _Module) -> None:
        self.module = module
        self.path = module.path
        self.report = module.report
        self.variants: set[str] = set()
        self.holders: dict[str, str] = {}  # holder name -> kind its call returns
        self.loops: list[_Loop] = []
        self.seen: set[tuple[int, int, str]] = set()

    # -- diagnostics -------------------------------------------------------------------------

    def _span(self, node: ast.AST) -> Span:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0)
        return Span(
            self.path,
            line,
            col + 1,
            getattr(node, "end_lineno", None) or line,
            (getattr(node, "end_col_offset", None) or col) + 1,
        )

    def _flag(self, node: ast.expr, name: str, how: str, prior: Consumed) -> None:
        key = (node.lineno, node.col_offset, name)
        if key in self.seen:
            return
        self.seen.add(key)
        first = f"{prior.use.how} at line {prior.use.line}"
        span = self._span(node)
        if prior.in_loop:
            code = STATE_REUSED_IN_LOOP
            message = (
                f"state '{name}' is used again by the next iteration of the loop: {how} here, "
                f"{first} in the previous one"
            )
            hint = f"rebind '{name}' in the loop body to the state each step returns"
        elif prior.certain:
            code = STATE_REUSED
            message = f"state '{name}' is used twice: {how} here, {first} already used it"
            hint = "a state object can be used once: continue with the state its method returned"
        else:
            code = STATE_MAYBE_REUSED
            message = (
                f"state '{name}' may be used twice: {how} here, {first} may already have "
                "used it (on some path)"
            )
            hint = "use each state once on every path, or rebind it on the path that used it"
        self.report.append(Diagnostic(code, span, message, hint))

    def _unmatched(self, node: ast.AST, message: str) -> None:
        self.report.append(Diagnostic(
            VARIANT_UNMATCHED, self._span(node), message,
            "match every variant by class and end with `case other: assert_never(other)` "
            "(typing.assert_never), so that mypy names any variant left out",
        ))

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

    def _ref(self, node: ast.expr | None, env: Env) -> str | None:
        """The state reference ``node`` names, if any: ``s``, ``r.state`` or ``self.s``."""
        if isinstance(node, ast.Name):
            return node.id if node.id in env else None
        if isinstance(node, ast.Attribute):
            if node.attr == "state" and isinstance(node.value, ast.Name) and node.value.id in self.variants:
                return f"{node.value.id}.state"
            path = _dotted(node)
            if path is not None and path in env:
                return path
        return None

    def _is_variant(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in self.variants

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
            if ref in self.holders:
                return _Value("holder", alias=ref, result=self.holders[ref])
            return _Value("state", alias=ref)
        if isinstance(node, ast.NamedExpr):
            # ``(s2 := await s1.send_x(...))`` binds like an assignment.
            value = self.expr(node.value, env)
            self.bind(node.target, value, env, node.value)
            name = node.target.id
            if name in env:
                return _Value("holder" if name in self.holders else "state", alias=name,
                              result=self.holders.get(name, "other"))
            return _Value(value.kind) if value.kind == "variant" else _OTHER
        if isinstance(node, ast.Attribute):
            receiver = self._ref(node.value, env)
            if receiver is not None and node.attr not in _PROPERTIES and not node.attr.startswith("_"):
                # ``s.send_x`` not called here: whoever calls the bound method uses ``s``.
                self._use(env, node, receiver, f"taking its method {node.attr} uncalled")
                return _Value("holder", result=self.module.method_result(node.attr))
            self.expr(node.value, env)
            return _OTHER
        if isinstance(node, ast.Lambda):
            captured = self._capture(node, env, "a lambda")
            if captured:
                inner = _Function(self.module)
                inner_env: Env = dict.fromkeys(captured)
                inner.expr(node.body, inner_env)
                return _Value("holder")
            return _OTHER
        if isinstance(node, ast.GeneratorExp | ast.ListComp | ast.SetComp | ast.DictComp):
            # Deferred or scoped code: its uses are not on this path.
            return _OTHER
        if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict):
            elts = [*node.keys, *node.values] if isinstance(node, ast.Dict) else node.elts
            what = type(node).__name__.lower()
            for elt in elts:
                if elt is None:
                    continue
                inner = elt.value if isinstance(elt, ast.Starred) else elt
                ref = self._ref(inner, env)
                if ref is not None:
                    # Storing a state is a move: the container holds it now.
                    self._use(env, inner, ref, f"storing it in a {what}")
                else:
                    self.expr(inner, env)
            return _OTHER
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self.expr(child, env)
        return _OTHER

    def _call(self, node: ast.Call, env: Env) -> _Value:
        func = node.func
        result = _OTHER
        receiver = self._ref(func.value, env) if isinstance(func, ast.Attribute) else None
        held = self._ref(func, env)
        if isinstance(func, ast.Attribute) and receiver is not None and receiver not in self.holders:
            self._use(env, func.value, receiver, f"{func.attr}()")
            result = _Value(self.module.method_result(func.attr))
        elif held is not None and held in self.holders:
            # Calling what owns a state (a bound method, a closure) uses it.
            self._use(env, func, held, f"calling {held}()")
            result = _Value(self.holders[held])
        else:
            self.expr(func, env)
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if callee.startswith("start_"):
                result = _Value("state")
            elif callee in self.module.returns:
                result = _Value(self.module.returns[callee])
        inspects = isinstance(func, ast.Name) and func.id in _INSPECTING
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            inner = arg.value if isinstance(arg, ast.Starred) else arg
            ref = self._ref(inner, env)
            if ref is not None and not inspects:
                self._use(env, inner, ref, f"passing it to {ast.unparse(func)}()")
            else:
                self.expr(inner, env)
        return result

    def _capture(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, env: Env, what: str) -> list[str]:
        """States a nested function or lambda reads from this scope: capturing one moves
        it into the closure (and whoever calls the closure uses it)."""
        local, shared = _scope_names(node)
        captured: list[str] = []
        for sub in _free_loads(node):
            name = sub.id
            if name in env and name not in local and name not in shared and name not in captured:
                captured.append(name)
                self._use(env, sub, name, f"capturing it in {what}")
        return captured

    # -- binding ----------------------------------------------------------------------------

    def _bind_state(self, env: Env, name: str) -> None:
        env[name] = None
        self.variants.discard(name)
        self.holders.pop(name, None)

    def _unbind(self, env: Env, name: str) -> None:
        env.pop(name, None)
        self.variants.discard(name)
        self.holders.pop(name, None)

    def bind(self, target: ast.expr, value: _Value, env: Env, source: ast.expr | None) -> None:
        if value.alias is not None and source is not None:
            # ``t = s``: the state moves to ``t``.
            self._use(env, source, value.alias, f"moving it to {ast.unparse(target)}")
            value = _Value(value.kind, result=value.result)
        path = _dotted(target) if isinstance(target, ast.Attribute) else None
        if isinstance(target, ast.Name) or path is not None:
            name = target.id if isinstance(target, ast.Name) else path
            assert name is not None
            if value.kind in ("state", "pair", "fork"):
                self._bind_state(env, name)
            elif value.kind == "holder":
                self._bind_state(env, name)
                self.holders[name] = value.result
            elif value.kind == "variant":
                self._unbind(env, name)
                self.variants.add(name)
                env.pop(f"{name}.state", None)
            else:
                self._unbind(env, name)
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
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            captured = self._capture(node, env, f"{node.name}()")
            _analyze_function(node, self.module, captured)
            if captured:
                self._bind_state(env, node.name)
                self.holders[node.name] = "other"
            else:
                self._unbind(env, node.name)
            return env
        if isinstance(node, ast.ClassDef):
            _analyze_definitions([node], self.module)
            return env
        if isinstance(node, ast.Expr):
            self.expr(node.value, env)
            return BOTTOM if _never_returns(node.value) else env
        if isinstance(node, ast.Assign):
            if (
                len(node.targets) == 1
                and isinstance(node.targets[0], ast.Tuple)
                and isinstance(node.value, ast.Tuple)
                and len(node.targets[0].elts) == len(node.value.elts)
                and not any(isinstance(e, ast.Starred) for e in node.value.elts)
            ):
                # ``a, b = s, t``: each name takes its own value.
                values = [(self.expr(v, env), v) for v in node.value.elts]
                for tgt, (val, src) in zip(node.targets[0].elts, values, strict=True):
                    self.bind(tgt, val, env, src)
                return env
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
        if isinstance(node, ast.Assert):
            self._check_assert(node)
            self.expr(node.test, env)
            self.expr(node.msg, env)
            return env
        if isinstance(node, ast.If):
            self._check_isinstance_chain(node)
            self.expr(node.test, env)
            return _merge(self.block(node.body, dict(env)), self.block(node.orelse, dict(env)))
        if isinstance(node, ast.While):
            return self._loop(node.body, node.orelse, env, test=node.test)
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

    # -- variants matched over all their cases (M704) -----------------------------------------

    def _check_assert(self, node: ast.Assert) -> None:
        var = _isinstance_of(node.test)
        if var is not None and self._is_variant(var[0]) and not var[1]:
            self._unmatched(node, (
                f"`assert isinstance({ast.unparse(var[0])}, ...)` lets every other variant of "
                f"'{ast.unparse(var[0])}' through to run time"
            ))

    def _check_isinstance_chain(self, node: ast.If) -> None:
        var = _isinstance_of(node.test)
        if var is None or not self._is_variant(var[0]):
            return
        name = ast.unparse(var[0])
        if var[1]:
            # ``if not isinstance(r, A): raise ...``: a catch-all for every other variant.
            if node.body and isinstance(node.body[-1], ast.Raise) and not _is_assert_never(node.body):
                self._unmatched(node, (
                    f"`if not isinstance({name}, ...)` handles every other variant of '{name}' "
                    "alike, so a variant can go unhandled"
                ))
            return
        tail: ast.If = node
        while len(tail.orelse) == 1 and isinstance(tail.orelse[0], ast.If):
            nxt = _isinstance_of(tail.orelse[0].test)
            if nxt is None or ast.unparse(nxt[0]) != name or nxt[1]:
                return
            tail = tail.orelse[0]
        if tail.orelse and not _is_assert_never(tail.orelse) and not _continues_with(tail.orelse, name):
            self._unmatched(tail.orelse[0], (
                f"the `else:` after isinstance checks of '{name}' catches every variant not "
                "checked, so one can go unhandled"
            ))

    def _check_match(self, node: ast.Match) -> None:
        handled: set[str] = set()
        family: tuple[str, tuple[str, ...]] | None = None
        for case in node.cases:
            pattern = case.pattern
            if isinstance(pattern, ast.MatchAs) and pattern.pattern is None and case.guard is None:
                if not _is_assert_never(case.body) and not (
                    pattern.name and _continues_with(case.body, pattern.name)
                ):
                    what = pattern.name or "_"
                    self._unmatched(case.pattern, (
                        f"`case {what}:` catches every variant not matched above it, so one can "
                        "go unhandled"
                    ))
                return  # a catch-all ends the match (mypy checks what assert_never gets)
            for cls in _pattern_classes(pattern):
                found = self.module.variants_of(cls)
                if found is not None:
                    family = family or found
                    if case.guard is None:
                        handled.add(_last_name(cls))
        if family is not None:
            missing = [v for v in family[1] if v not in handled]
            if missing:
                self._unmatched(node, (
                    f"this match on {family[0]}'s variants handles no case for "
                    f"{', '.join(missing)}: it would pass unhandled"
                ))

    def _loop(
        self,
        body: list[ast.stmt],
        orelse: list[ast.stmt],
        env: Env,
        target: ast.expr | None = None,
        test: ast.expr | None = None,
    ) -> Env | None:
        loop = _Loop()
        self.loops.append(loop)
        # A ``while`` test runs before every iteration and once more before leaving (it may
        # rebind: ``while isinstance(r := await s.offer(), X)``); ``while True`` leaves by
        # ``break`` only.
        endless = isinstance(test, ast.Constant) and bool(test.value)
        exits: list[Env] = []

        def check(start: Env) -> Env:
            inner = dict(start)
            if test is not None:
                self.expr(test, inner)
                if not endless:
                    exits.append(dict(inner))
            return inner

        def once(start: Env) -> Env | None:
            inner = check(start)
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
        if test is None:
            after = _merge(env, _merge(first, second))
        else:
            if second is not None:
                check(second)
            after = None
            for e in exits:
                after = _merge(after, e)
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
        if is_variant:
            self._check_match(node)
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


def _statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included, without visiting expressions (cheaper than
    ``ast.walk`` on big modules: definitions and imports are statements)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        for name in ("body", "orelse", "finalbody"):
            sub = getattr(node, name, None)
            if isinstance(sub, list):
                stack.extend(reversed(sub))
        for handler in getattr(node, "handlers", ()):
            stack.extend(reversed(handler.body))
        for case in getattr(node, "cases", ()):
            stack.extend(reversed(case.body))


def _last_name(node: ast.expr) -> str:
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")


def _pattern_classes(pattern: ast.pattern) -> Iterator[ast.expr]:
    """The classes a case pattern matches at its top level (``A() | B()`` gives both)."""
    if isinstance(pattern, ast.MatchClass):
        yield pattern.cls
    elif isinstance(pattern, ast.MatchOr):
        for sub in pattern.patterns:
            yield from _pattern_classes(sub)
    elif isinstance(pattern, ast.MatchAs) and pattern.pattern is not None:
        yield from _pattern_classes(pattern.pattern)


# Generated module (dotted name) -> {state class: its variant classes}, per search root.
_TABLES: dict[tuple[str, str], dict[str, tuple[str, ...]] | None] = {}
# Generated module -> its ``do_<step>`` methods that return variants (roles chosen at run time).
_CHOOSERS: dict[str, set[str]] = {}


def _variant_table(module: str, user_file: str) -> dict[str, tuple[str, ...]] | None:
    """Read the variants of every ``offer``/``next``/``participation`` (and chosen-role
    ``do_<step>``) of a generated module, found as ``<root>/<module path>.py`` for the linted
    file's folders and the working directory. None if it is not found (then the lint says
    nothing about missing variants)."""
    rel = Path(*module.split(".")).with_suffix(".py")
    here = Path(user_file).resolve().parent
    for root in (Path.cwd(), here, *here.parents):
        candidate = root / rel
        key = (module, str(candidate))
        if key in _TABLES:
            if _TABLES[key] is not None:
                return _TABLES[key]
            continue
        table: dict[str, tuple[str, ...]] | None = None
        if candidate.is_file():
            try:
                tree = ast.parse(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError):
                tree = None
            if tree is not None:
                table = {}
                for cls in tree.body:
                    if not isinstance(cls, ast.ClassDef):
                        continue
                    for fn in cls.body:
                        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) and _returns_variants(fn):
                            table[cls.name] = tuple(_union_names(fn.returns))
                            if fn.name not in _VARIANT_METHODS:
                                _CHOOSERS.setdefault(module, set()).add(fn.name)
        _TABLES[key] = table
        if table is not None:
            return table
    return None


def _returns_variants(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """``offer``/``next``/``participation``, or the ``do_<step>`` of a role chosen at run
    time, whose result is ``<S>_<Role> | <S>_Not<Role>`` (a local step's is a state or a
    tuple)."""
    if fn.name in _VARIANT_METHODS:
        return True
    return fn.name.startswith("do_") and isinstance(fn.returns, ast.BinOp)


def _union_names(node: ast.expr | None) -> Iterator[str]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from _union_names(node.left)
        yield from _union_names(node.right)
    elif isinstance(node, ast.Name):
        yield node.id


def _is_assert_never(body: Sequence[ast.stmt]) -> bool:
    """Whether a block starts with ``assert_never(x)``, which mypy checks is unreachable."""
    first = body[0] if body else None
    if not isinstance(first, ast.Expr) or not isinstance(first.value, ast.Call):
        return False
    func = first.value.func
    return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "assert_never"


def _continues_with(body: Sequence[ast.stmt], name: str) -> bool:
    """Whether a catch-all continues the protocol with the narrowed variant's ``.state``
    (``else: return r.state``): mypy then checks that every variant left has that step.
    One that raises or ignores the variant swallows it instead."""
    if not body or isinstance(body[0], ast.Raise):
        return False
    return any(
        isinstance(sub, ast.Attribute)
        and sub.attr == "state"
        and isinstance(sub.value, ast.Name)
        and sub.value.id == name
        for stmt in body
        for sub in ast.walk(stmt)
    )


def _isinstance_of(test: ast.expr) -> tuple[ast.expr, bool] | None:
    """``isinstance(x, ...)`` -> (x, False); ``not isinstance(x, ...)`` -> (x, True)."""
    negated = False
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        test, negated = test.operand, True
    if (
        isinstance(test, ast.Call)
        and isinstance(test.func, ast.Name)
        and test.func.id == "isinstance"
        and len(test.args) == 2
    ):
        return test.args[0], negated
    return None


def _dotted(node: ast.expr) -> str | None:
    """``self.s`` / ``a.b.c`` as a string: an attribute path that can hold a state."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name) or not parts:
        return None
    return ".".join([node.id, *reversed(parts)])


def _method_result(method: str) -> str:
    """What calling a state's method returns, by its name."""
    if method in _VARIANT_METHODS:
        return "variant"
    if method == "fork":
        return "fork"
    return "pair"  # a state, or (message(s), state) for a receive


def _returned_kind(node: ast.expr | None) -> str:
    """What a user function annotated ``-> node`` returns: a state, or a tuple ending in one."""
    if node is None:
        return "other"
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            node = ast.parse(node.value, mode="eval").body
        except SyntaxError:
            return "other"
    if _is_state_annotation(node):
        return "state"
    if (
        isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Name | ast.Attribute)
        and (node.value.id if isinstance(node.value, ast.Name) else node.value.attr) in ("tuple", "Tuple")
        and isinstance(node.slice, ast.Tuple)
        and node.slice.elts
        and _is_state_annotation(node.slice.elts[-1])
    ):
        return "pair"
    return "other"


def _scope_names(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[set[str], set[str]]:
    """Names local to a function (parameters, assigned names) and those it shares with the
    enclosing scope (``nonlocal`` / ``global``: not captured copies)."""
    args = node.args
    local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    shared: set[str] = set()
    body = node.body if isinstance(node.body, list) else [node.body]
    for stmt in body:
        for sub in ast.walk(stmt):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del):
                local.add(sub.id)
            elif isinstance(sub, ast.Nonlocal | ast.Global):
                shared.update(sub.names)
            elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                local.add(sub.name)
    return local - shared, shared


def _free_loads(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> Iterator[ast.Name]:
    """Every name read in a function's body (nested scopes included), in source order."""
    body = node.body if isinstance(node.body, list) else [node.body]
    found = [
        sub for stmt in body for sub in ast.walk(stmt)
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)
    ]
    found.sort(key=lambda n: (n.lineno, n.col_offset))
    yield from found


def _analyze_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    module: _Module,
    captured: Iterable[str] = (),
    attributes: Iterable[str] = (),
) -> None:
    fn = _Function(module)
    env: Env = dict.fromkeys(captured)
    args = node.args
    params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    for a in params:
        if _is_state_annotation(a.annotation):
            env[a.arg] = None
    if params and not any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list
    ):
        # A class's state attributes hold a live state when a method starts.
        env.update(dict.fromkeys(f"{params[0].arg}.{attr}" for attr in attributes))
    fn.block(node.body, env)


def _state_attributes(cls: ast.ClassDef) -> set[str]:
    """Attributes of a class that hold a state between calls: annotated with a state class
    (``state: Client_S0``), or assigned a parameter annotated with one (``self.s = s``)."""
    out = {
        s.target.id for s in cls.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name) and _is_state_annotation(s.annotation)
    }
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or not fn.args.args:
            continue
        me = fn.args.args[0].arg
        states = {a.arg for a in fn.args.args if _is_state_annotation(a.annotation)}
        for sub in ast.walk(fn):
            if isinstance(sub, ast.Assign):
                targets, value, ann = sub.targets, sub.value, None
            elif isinstance(sub, ast.AnnAssign):
                targets, value, ann = [sub.target], sub.value, sub.annotation
            else:
                continue
            for tgt in targets:
                if (
                    isinstance(tgt, ast.Attribute)
                    and isinstance(tgt.value, ast.Name)
                    and tgt.value.id == me
                    and (_is_state_annotation(ann) or (isinstance(value, ast.Name) and value.id in states))
                ):
                    out.add(tgt.attr)
    return out


def _analyze_definitions(nodes: Iterable[ast.stmt], module: _Module, attributes: Iterable[str] = ()) -> None:
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            _analyze_definitions(node.body, module, sorted(_state_attributes(node)))
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            _analyze_function(node, module, attributes=attributes)


def lint_source(text: str, path: str) -> tuple[Diagnostic, ...]:
    """Every linearity finding of one Python module, sorted."""
    try:
        with gc_paused():
            tree = ast.parse(text, filename=path)
    except SyntaxError as e:
        span = Span(path, e.lineno or 1, e.offset or 1)
        return (Diagnostic(LINT_UNREADABLE, span, f"not valid Python: {e.msg}", "fix the syntax first"),)
    with gc_paused():  # many small AST nodes, none freed while linting (see gc_paused)
        return _lint_tree(tree, path)


def _lint_tree(tree: ast.Module, path: str) -> tuple[Diagnostic, ...]:
    report: list[Diagnostic] = []
    module = _Module(path, report, tree)
    # Module-level code is one more body (scripts drive roles there too).
    _analyze_definitions(tree.body, module)
    top = _Function(module)
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
                    Diagnostic(LINT_UNREADABLE, Span(name, 0, 0), f"cannot read the file: {e}", "")
                )
                continue
            found.extend(lint_source(sources[name], name))
    return sort_diagnostics(found), sources
