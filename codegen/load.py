"""YAML text -> a node tree with exact spans, or diagnostics; never an exception.

The tree is built from PyYAML's event stream (safe parser, nothing is ever constructed
beyond scalars) so that every YAML pitfall is seen and reported: duplicate keys (PyYAML
would silently keep the last), tabs in indentation, anchors/aliases/tags, several documents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from codegen.diagnostics import Diagnostic
from codegen.span import Span

# libyaml's parser yields the same events and marks about 20x faster; pure Python otherwise.
_EVENT_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


ScalarKind = Literal["str", "int", "float", "bool", "null"]
ScalarValue = str | int | float | bool | None

MAX_DEPTH: Final = (
    64  # deeper nesting is never a sensible spec; it keeps later stages iterative-safe
)

_TAG_KIND: Final[dict[str, ScalarKind]] = {
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
}


@dataclass(frozen=True, slots=True)
class Scalar:
    """A scalar: ``text`` as YAML read it, ``value`` resolved by the YAML 1.1 core rules."""

    text: str
    value: ScalarValue
    kind: ScalarKind
    span: Span
    plain: bool
    # Source column (1-based) of each character of ``text`` plus one past the end, when the
    # scalar sits on one line and can be mapped back; None otherwise (spans fall back).
    # A range for plain scalars (contiguous columns), a tuple when quoting shifts them.
    cols: range | tuple[int, ...] | None = None

    def sub_span(self, start: int, end: int) -> Span:
        """The span of ``text[start:end]`` in the source (the whole scalar if unmappable)."""
        cols = self.cols
        if cols is None or not 0 <= start < len(cols) or end < start:
            return self.span
        end = min(end, len(cols) - 1)
        return Span(
            self.span.file,
            self.span.line,
            cols[start],
            self.span.line,
            max(cols[end], cols[start] + 1),
        )


@dataclass(frozen=True, slots=True)
class Mapping:
    items: tuple[tuple[Scalar, Node], ...]
    span: Span

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k.text == key:
                return v
        return None


@dataclass(frozen=True, slots=True)
class Sequence:
    items: tuple[Node, ...]
    span: Span


Node = Scalar | Mapping | Sequence


def describe(node: Node) -> str:
    """What a node is, for ``expected X, found Y`` messages."""
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a list"
    match node.kind:
        case "null":
            return "nothing (null)"
        case "bool":
            return f"a boolean ({node.text})"
        case "int":
            return f"an integer ({node.text})"
        case "float":
            return f"a number ({node.text})"
        case _:
            return f"a string ({node.text!r})" if len(node.text) <= 40 else "a string"


class _Mark(Protocol):
    """What we read of a PyYAML mark (0-based line and column)."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...


def _span(file: str, start: _Mark | None, end: _Mark | None) -> Span:
    if start is None:
        return Span(file, 1, 1)
    end = end or start
    return Span(file, start.line + 1, start.column + 1, end.line + 1, end.column + 1)


def _point(file: str, mark: _Mark | None) -> Span:
    if mark is None:
        return Span(file, 1, 1)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


def _columns(raw: str, text: str, style: str | None, col0: int) -> range | tuple[int, ...] | None:
    """Map each character of ``text`` back to a source column, for one-line scalars."""
    if style is None:
        if raw != text:
            return None
        return range(col0, col0 + len(text) + 1)
    if style not in ("'", '"') or len(raw) < 2 or raw[0] != style or raw[-1] != style:
        return None
    cols: list[int] = []
    i = 1
    while i < len(raw) - 1:
        cols.append(col0 + i)
        c = raw[i]
        if style == "'" and c == "'":
            i += 2  # '' is one quote
        elif style == '"' and c == "\\":
            nxt = raw[i + 1] if i + 1 < len(raw) else ""
            i += {"x": 4, "u": 6, "U": 10}.get(nxt, 2)
        else:
            i += 1
    cols.append(col0 + len(raw) - 1)
    return tuple(cols) if len(cols) == len(text) + 1 else None


def _codepoint(c: object) -> str:
    if isinstance(c, str) and len(c) == 1:
        return f"U+{ord(c):04X}"
    return f"U+{c:04X}" if isinstance(c, int) else repr(c)


def _tab_diagnostics(text: str, file: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for n, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip():
            col = line.index("\t") + 1
            out.append(
                Diagnostic(
                    "M101",
                    Span(file, n, col, n, col + 1),
                    "a tab character is used for indentation",
                    "YAML indentation must be spaces; replace the tab with spaces",
                )
            )
    return out


_CONSTRUCTOR = SafeConstructor()
_RESOLVER = Resolver()


@functools.lru_cache(maxsize=4096)
def _resolve(value: str, implicit: tuple[bool, bool]) -> tuple[ScalarValue, ScalarKind]:
    """Resolve a scalar by the YAML 1.1 core rules; cached because specs repeat values."""
    resolve = cast(Callable[[type, str, tuple[bool, bool]], str], _RESOLVER.resolve)
    tag = resolve(yaml.ScalarNode, value, implicit)
    kind = _TAG_KIND.get(tag)
    if kind is None:
        return value, "str"
    try:
        # Only int/float/bool/null tags reach their constructors: nothing arbitrary is built,
        # and calling the per-tag function directly keeps no constructor state.
        build = cast(
            Callable[[SafeConstructor, yaml.ScalarNode], object],
            _CONSTRUCTOR.yaml_constructors[tag],
        )
        result = build(_CONSTRUCTOR, yaml.ScalarNode(tag, value))
    except (ValueError, yaml.YAMLError, OverflowError):
        return value, "str"
    if isinstance(result, bool | int | float) or result is None:
        return result, kind
    return value, "str"


class _Frame:
    """A collection under construction."""

    __slots__ = ("is_map", "items", "key", "pairs", "start")

    def __init__(self, is_map: bool, start: _Mark | None) -> None:
        self.is_map = is_map
        self.start = start
        self.items: list[Node] = []
        self.pairs: list[tuple[Scalar, Node]] = []
        self.key: Node | None = None


def load(text: str, file: str) -> tuple[Node | None, list[Diagnostic]]:
    """Parse ``text``; returns the root node (None when nothing usable) and diagnostics."""
    tabs = _tab_diagnostics(text, file)
    if tabs:
        # PyYAML would stop at the first tab with a vaguer message; report each tab instead.
        return None, tabs
    diags: list[Diagnostic] = []
    lines = text.splitlines()
    stack: list[_Frame] = []
    root: Node | None = None
    documents = 0

    def add(node: Node) -> None:
        nonlocal root
        if not stack:
            root = node
            return
        top = stack[-1]
        if not top.is_map:
            top.items.append(node)
        elif top.key is None:
            top.key = node
        else:
            key, top.key = top.key, None
            if not isinstance(key, Scalar):
                diags.append(
                    Diagnostic(
                        "M104",
                        key.span,
                        f"a mapping key must be a plain name, found {describe(key)}",
                    )
                )
                return
            for k, _ in top.pairs:
                if k.text == key.text:
                    diags.append(
                        Diagnostic(
                            "M102",
                            key.sub_span(0, len(key.text)),
                            f"duplicate key {key.text!r}",
                            f"first given on line {k.span.line}; YAML would silently keep only the last",
                        )
                    )
                    return
            top.pairs.append((key, node))

    def scalar(ev: yaml.ScalarEvent) -> Scalar:
        span = _span(file, ev.start_mark, ev.end_mark)
        value, kind = _resolve(ev.value, ev.implicit)
        cols = None
        sm, em = ev.start_mark, ev.end_mark
        # libyaml reports a plain scalar's style as "" where PyYAML says None.
        style = ev.style or None
        if sm is not None and em is not None and sm.line == em.line and sm.line < len(lines):
            raw = lines[sm.line][sm.column : em.column]
            cols = _columns(raw, ev.value, style, sm.column + 1)
        return Scalar(ev.value, value, kind, span, style is None, cols)

    def forbid_anchor_tag(ev: yaml.NodeEvent) -> None:
        tag = getattr(ev, "tag", None)
        if ev.anchor is not None:
            diags.append(
                Diagnostic(
                    "M111",
                    _point(file, ev.start_mark),
                    f"YAML anchor '&{ev.anchor}' is not allowed in specs",
                    "write the repeated part out; specs are read as plain data",
                )
            )
        elif tag is not None:
            tag = (
                "!!" + tag.removeprefix("tag:yaml.org,2002:")
                if tag.startswith("tag:yaml.org,2002:")
                else tag
            )
            diags.append(
                Diagnostic(
                    "M111",
                    _point(file, ev.start_mark),
                    f"YAML tag {tag!r} is not allowed in specs",
                    "remove the tag; quote the value if it must be a string",
                )
            )

    try:
        for ev in yaml.parse(text, Loader=_EVENT_LOADER):
            if isinstance(ev, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    diags.append(
                        Diagnostic(
                            "M100",
                            _point(file, ev.start_mark),
                            "the file holds more than one YAML document",
                            "a spec file holds exactly one protocol; remove the '---' separator",
                        )
                    )
                    break
            elif isinstance(ev, yaml.AliasEvent):
                diags.append(
                    Diagnostic(
                        "M111",
                        _point(file, ev.start_mark),
                        f"YAML alias '*{ev.anchor}' is not allowed in specs",
                        "write the repeated part out; specs are read as plain data",
                    )
                )
                add(Scalar("", None, "null", _span(file, ev.start_mark, ev.end_mark), True))
            elif isinstance(ev, yaml.ScalarEvent):
                forbid_anchor_tag(ev)
                add(scalar(ev))
            elif isinstance(ev, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                forbid_anchor_tag(ev)
                if len(stack) >= MAX_DEPTH:
                    diags.append(
                        Diagnostic(
                            "M100", _point(file, ev.start_mark), "the YAML nesting is too deep"
                        )
                    )
                    return None, diags
                stack.append(_Frame(isinstance(ev, yaml.MappingStartEvent), ev.start_mark))
            elif isinstance(ev, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frame = stack.pop()
                span = _span(file, frame.start, ev.end_mark)
                add(
                    Mapping(tuple(frame.pairs), span)
                    if frame.is_map
                    else Sequence(tuple(frame.items), span)
                )
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        hint = exc.context if exc.context and exc.problem else ""
        if hint and exc.context_mark is not None and exc.context_mark is not mark:
            hint += f" that starts at line {exc.context_mark.line + 1}"
        if (
            mark is not None
            and mark.line < len(lines)
            and ":" in lines[mark.line]
            and "mapping values are not allowed" in problem
        ):
            hint = "a value containing ': ' must be quoted"
        return None, [*diags, Diagnostic("M100", _point(file, mark), problem, hint)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return None, [
            *diags,
            Diagnostic(
                "M100",
                Span(file, line, col, line, col + 1),
                f"the file contains a character YAML does not allow ({_codepoint(exc.character)})",
            ),
        ]
    except yaml.YAMLError as exc:
        return None, [*diags, Diagnostic("M100", Span(file, 1, 1), f"invalid YAML: {exc}")]
    if root is None and not diags:
        diags.append(
            Diagnostic(
                "M112",
                Span(file, 1, 1),
                "the file holds no protocol",
                "a spec is a mapping with at least protocol, roles, messages and interactions",
            )
        )
    return root, diags
