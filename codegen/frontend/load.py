"""YAML text -> a node tree with exact spans, or diagnostics; never an exception.

The tree is built from PyYAML's event stream (safe parser, nothing is ever constructed
beyond scalars) so that every YAML pitfall is seen and reported: duplicate keys (PyYAML
would silently keep the last), tabs in indentation, anchors/aliases/tags, several documents.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Final, Literal, NamedTuple, Protocol, cast

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from codegen.core.diagnostics import (
    EMPTY_SPEC,
    UNREADABLE_FILE,
    WRONG_TYPE,
    YAML_ANCHOR,
    YAML_DUPLICATE_KEY,
    YAML_SYNTAX,
    YAML_TAB,
    Diagnostic,
)
from codegen.core.span import Span

# libyaml's parser yields the same events and marks about 20x faster; pure Python otherwise.
_EVENT_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)


ScalarKind = Literal["str", "int", "float", "bool", "null"]
ScalarValue = str | int | float | bool | None

MAX_DEPTH: Final = (
    64  # deeper nesting is never a sensible spec; it keeps later stages iterative-safe
)
# Every stage is linear in the spec's size, but a spec is written by hand: beyond this it is
# a mistake or an attack, refused with a diagnostic before any parsing (the compiler
# benchmark's largest spec, 100,000 interactions, is 4.4 MB).
MAX_SPEC_BYTES: Final = 8 << 20

_TAG_KIND: Final[dict[str, ScalarKind]] = {
    "tag:yaml.org,2002:int": "int",
    "tag:yaml.org,2002:float": "float",
    "tag:yaml.org,2002:bool": "bool",
    "tag:yaml.org,2002:null": "null",
}


class Scalar(NamedTuple):
    """A scalar: ``text`` as YAML read it, ``value`` resolved by the YAML 1.1 core rules.

    A named tuple holding the raw position rather than a ``Span``: a spec has hundreds of
    thousands of scalars, and ``span`` is only built for the ones a later stage asks about."""

    text: str
    value: ScalarValue
    kind: ScalarKind
    plain: bool
    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    # How ``text`` maps back to source columns when the scalar sits on one line: contiguous
    # (a plain scalar: text[i] is at column col + i), or ``cols``, the column of each
    # character plus one past the end when quoting shifts them; neither when unmappable
    # (sub-spans then fall back to the whole scalar).
    contiguous: bool = False
    cols: tuple[int, ...] | None = None

    @property
    def span(self) -> Span:
        return Span(self.file, self.line, self.col, self.end_line, self.end_col)

    def sub_span(self, start: int, end: int) -> Span:
        """The span of ``text[start:end]`` in the source (the whole scalar if unmappable)."""
        if self.contiguous:
            n = len(self.text)
            if not 0 <= start <= n or end < start:
                return self.span
            col = self.col
            return Span(self.file, self.line, col + start, self.line, col + max(min(end, n), start + 1))
        cols = self.cols
        if cols is None or not 0 <= start < len(cols) or end < start:
            return self.span
        end = min(end, len(cols) - 1)
        return Span(self.file, self.line, cols[start], self.line, max(cols[end], cols[start] + 1))


class Mapping(NamedTuple):
    items: tuple[tuple[Scalar, Node], ...]
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def span(self) -> Span:
        return Span(self.file, self.line, self.col, self.end_line, self.end_col)

    def get(self, key: str) -> Node | None:
        for k, v in self.items:
            if k.text == key:
                return v
        return None


class Sequence(NamedTuple):
    items: tuple[Node, ...]
    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    @property
    def span(self) -> Span:
        return Span(self.file, self.line, self.col, self.end_line, self.end_col)


def empty_mapping(span: Span) -> Mapping:
    """A mapping with no keys at ``span`` (where a spec wrote null for an empty mapping)."""
    return Mapping((), span.file, span.line, span.col, span.end_line, span.end_col)


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


def _point(file: str, mark: _Mark | None) -> Span:
    if mark is None:
        return Span(file, 1, 1)
    return Span(file, mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2)


def _quoted_columns(raw: str, text: str, style: str, col0: int) -> tuple[int, ...] | None:
    """Map each character of a one-line quoted scalar's ``text`` back to a source column."""
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
    if "\t" not in text:
        return out
    for n, line in enumerate(text.splitlines(), start=1):
        indent = len(line) - len(line.lstrip(" \t"))
        if "\t" in line[:indent] and line.strip():
            col = line.index("\t") + 1
            out.append(
                Diagnostic(
                    YAML_TAB,
                    Span(file, n, col, n, col + 1),
                    "a tab character is used for indentation",
                    "YAML indentation must be spaces; replace the tab with spaces",
                )
            )
    return out


_CONSTRUCTOR = SafeConstructor()
_RESOLVER = Resolver()


def _resolve(value: str, implicit: tuple[bool, bool]) -> tuple[ScalarValue, ScalarKind]:
    """Resolve a scalar by the YAML 1.1 core rules."""
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
    """A collection under construction: ``items`` for a list; for a mapping, ``pairs`` by
    key text (insertion-ordered, so duplicates are found in one lookup) and the pending key."""

    __slots__ = ("col", "is_map", "items", "key", "line", "pairs")

    def __init__(self, is_map: bool, line: int, col: int) -> None:
        self.is_map = is_map
        self.line = line  # 1-based start, for the collection's span
        self.col = col
        self.items: list[Node] = []
        self.pairs: dict[str, tuple[Scalar, Node]] = {}
        self.key: Node | None = None


class _Builder:
    """Builds the node tree from the event stream, one method per kind of event.

    This runs once per YAML event (hundreds of thousands for a large spec), so it keeps the
    per-event work small: no ``Span`` per node, one dict lookup per key, resolved plain
    scalars remembered for the rest of this file (specs repeat names and numbers)."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = text.splitlines()
        self.diags: list[Diagnostic] = []
        # A list frame at the bottom receives the root, so ``add`` never checks for it.
        self.stack: list[_Frame] = [_Frame(False, 1, 1)]
        self.resolved: dict[str, tuple[ScalarValue, ScalarKind]] = {}

    @property
    def root(self) -> Node | None:
        items = self.stack[0].items
        return items[0] if items else None

    def add(self, node: Node) -> None:
        top = self.stack[-1]
        if not top.is_map:
            top.items.append(node)
            return
        key = top.key
        if key is None:
            top.key = node
            return
        top.key = None
        if type(key) is not Scalar:
            self.diags.append(
                Diagnostic(WRONG_TYPE, key.span, f"a mapping key must be a plain name, found {describe(key)}")
            )
            return
        first = top.pairs.get(key.text)
        if first is not None:
            self.diags.append(
                Diagnostic(
                    YAML_DUPLICATE_KEY,
                    key.sub_span(0, len(key.text)),
                    f"duplicate key {key.text!r}",
                    f"first given on line {first[0].line}; YAML would silently keep only the last",
                )
            )
            return
        top.pairs[key.text] = (key, node)

    def scalar(self, ev: yaml.ScalarEvent) -> Scalar:
        value = ev.value
        sm, em = ev.start_mark, ev.end_mark
        line, col = (sm.line, sm.column) if sm is not None else (0, 0)
        end_line, end_col = (em.line, em.column) if em is not None else (line, col)
        # libyaml reports a plain scalar's style as "" where PyYAML says None.
        style = ev.style or None
        resolved: tuple[ScalarValue, ScalarKind] = (value, "str")  # quoted, block or tagged
        if style is None and ev.implicit[0]:
            known = self.resolved.get(value)
            if known is None:
                known = self.resolved[value] = _resolve(value, ev.implicit)
            resolved = known
        contiguous = False
        cols = None
        if sm is not None and em is not None and line == end_line and line < len(self.lines):
            source = self.lines[line]
            if style is None:
                contiguous = end_col - col == len(value) and source.startswith(value, col)
            else:
                cols = _quoted_columns(source[col:end_col], value, style, col + 1)
        # tuple.__new__: what Scalar(...) does, without its Python-level __new__ frame.
        return tuple.__new__(Scalar, (
            value, resolved[0], resolved[1], style is None, self.file,
            line + 1, col + 1, end_line + 1, end_col + 1, contiguous, cols,
        ))

    def forbid_anchor_tag(self, ev: yaml.NodeEvent) -> None:
        tag = getattr(ev, "tag", None)
        if ev.anchor is not None:
            self.diags.append(
                Diagnostic(
                    YAML_ANCHOR,
                    _point(self.file, ev.start_mark),
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
            self.diags.append(
                Diagnostic(
                    YAML_ANCHOR,
                    _point(self.file, ev.start_mark),
                    f"YAML tag {tag!r} is not allowed in specs",
                    "remove the tag; quote the value if it must be a string",
                )
            )

    def alias(self, ev: yaml.AliasEvent) -> None:
        self.diags.append(
            Diagnostic(
                YAML_ANCHOR,
                _point(self.file, ev.start_mark),
                f"YAML alias '*{ev.anchor}' is not allowed in specs",
                "write the repeated part out; specs are read as plain data",
            )
        )
        sm, em = ev.start_mark, ev.end_mark
        line, col = (sm.line + 1, sm.column + 1) if sm is not None else (1, 1)
        end_line, end_col = (em.line + 1, em.column + 1) if em is not None else (line, col)
        self.add(Scalar("", None, "null", True, self.file, line, col, end_line, end_col))

    def start(self, ev: yaml.CollectionStartEvent) -> bool:
        """Open a collection; False when the nesting is too deep to go on."""
        if ev.anchor is not None or ev.tag is not None:
            self.forbid_anchor_tag(ev)
        if len(self.stack) > MAX_DEPTH:
            self.diags.append(Diagnostic(YAML_SYNTAX, _point(self.file, ev.start_mark), "the YAML nesting is too deep"))
            return False
        sm = ev.start_mark
        line, col = (sm.line + 1, sm.column + 1) if sm is not None else (1, 1)
        self.stack.append(_Frame(type(ev) is yaml.MappingStartEvent, line, col))
        return True

    def end(self, ev: yaml.CollectionEndEvent) -> None:
        frame = self.stack.pop()
        em = ev.end_mark
        end_line, end_col = (em.line + 1, em.column + 1) if em is not None else (frame.line, frame.col)
        self.add(
            Mapping(tuple(frame.pairs.values()), self.file, frame.line, frame.col, end_line, end_col)
            if frame.is_map
            else Sequence(tuple(frame.items), self.file, frame.line, frame.col, end_line, end_col)
        )


def read_spec(path: str | os.PathLike[str], file: str) -> tuple[str, Diagnostic | None]:
    """The text of a spec file, or an M113 diagnostic (shown as ``file``) when it cannot be
    read, is not UTF-8 or is too large; every command reads specs through here."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return "", Diagnostic(UNREADABLE_FILE, Span(file, 0, 0), f"cannot read the spec: {exc.strerror or exc}")
    if len(data) > MAX_SPEC_BYTES:
        return "", Diagnostic(
            UNREADABLE_FILE, Span(file, 0, 0), f"the spec is larger than {MAX_SPEC_BYTES >> 20} MiB",
            "split it into several protocols",
        )
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return "", Diagnostic(UNREADABLE_FILE, Span(file, 0, 0), f"cannot read the spec: {exc}")


def load(text: str, file: str) -> tuple[Node | None, list[Diagnostic]]:
    """Parse ``text``; returns the root node (None when nothing usable) and diagnostics."""
    if len(text) > MAX_SPEC_BYTES:  # a text handed over directly, not through read_spec
        return None, [Diagnostic(
            UNREADABLE_FILE, Span(file, 1, 1), f"the spec is larger than {MAX_SPEC_BYTES >> 20} MiB",
            "split it into several protocols",
        )]
    tabs = _tab_diagnostics(text, file)
    if tabs:
        # PyYAML would stop at the first tab with a vaguer message; report each tab instead.
        return None, tabs
    b = _Builder(text, file)
    diags = b.diags
    try:
        if not _build(b, text):
            return None, diags
    except yaml.MarkedYAMLError as exc:
        return None, [*diags, _syntax_error(exc, b.lines, file)]
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return None, [
            *diags,
            Diagnostic(
                YAML_SYNTAX,
                Span(file, line, col, line, col + 1),
                f"the file contains a character YAML does not allow ({_codepoint(exc.character)})",
            ),
        ]
    except yaml.YAMLError as exc:
        return None, [*diags, Diagnostic(YAML_SYNTAX, Span(file, 1, 1), f"invalid YAML: {exc}")]
    root = b.root
    if root is None and not diags:
        diags.append(
            Diagnostic(
                EMPTY_SPEC,
                Span(file, 1, 1),
                "the file holds no protocol",
                "a spec is a mapping with at least protocol, roles, messages and interactions",
            )
        )
    return root, diags


def _build(b: _Builder, text: str) -> bool:
    """Feed every event to ``b``; False when the tree must be given up (nesting too deep)."""
    # This loop runs once per event (about 670k for 100k interactions): the parser is driven
    # directly (``yaml.parse`` adds a generator frame per event), event kinds are tested by
    # exact type, most frequent first, and the common cases of ``_Builder.add`` and
    # ``_Builder.end`` are inlined; the rare ones (keys that are not scalars, duplicates,
    # anchors, tags) go through the builder's methods.
    scalar_event, map_start, seq_start = yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    new, scalar, add, file, stack = tuple.__new__, b.scalar, b.add, b.file, b.stack
    documents = 0
    loader = _EVENT_LOADER(text)
    try:
        next_event = loader.get_event
        while (ev := next_event()) is not None:
            kind = type(ev)
            if kind is scalar_event:
                assert isinstance(ev, yaml.ScalarEvent)
                if ev.anchor is not None or ev.tag is not None:
                    b.forbid_anchor_tag(ev)
                node: Node = scalar(ev)
            elif kind is map_end or kind is seq_end:
                frame = stack.pop()
                em = ev.end_mark
                end_line, end_col = (em.line + 1, em.column + 1) if em is not None else (frame.line, frame.col)
                node = (
                    new(Mapping, (tuple(frame.pairs.values()), file, frame.line, frame.col, end_line, end_col))
                    if frame.is_map
                    else new(Sequence, (tuple(frame.items), file, frame.line, frame.col, end_line, end_col))
                )
            elif kind is map_start or kind is seq_start:
                assert isinstance(ev, yaml.CollectionStartEvent)
                if not b.start(ev):
                    return False
                continue
            elif kind is yaml.AliasEvent:
                assert isinstance(ev, yaml.AliasEvent)
                b.alias(ev)
                continue
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    b.diags.append(
                        Diagnostic(
                            YAML_SYNTAX,
                            _point(b.file, ev.start_mark),
                            "the file holds more than one YAML document",
                            "a spec file holds exactly one protocol; remove the '---' separator",
                        )
                    )
                    break
                continue
            else:
                continue
            top = stack[-1]
            if not top.is_map:
                top.items.append(node)
            elif top.key is None:
                top.key = node
            elif type(top.key) is Scalar and top.key.text not in top.pairs:
                top.pairs[top.key.text] = (top.key, node)
                top.key = None
            else:
                add(node)  # reports the key that is not a name, or the duplicate
    finally:
        loader.dispose()
    return True


def _syntax_error(exc: yaml.MarkedYAMLError, lines: list[str], file: str) -> Diagnostic:
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
    return Diagnostic(YAML_SYNTAX, _point(file, mark), problem, hint)
