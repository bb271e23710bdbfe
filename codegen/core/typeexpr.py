"""Payload type expressions: ``int str bytes bool float bytesN list[T] optional[T] map[K, V] Record``.

Parsed by hand from the string as written so that errors point at the exact character.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from codegen.core.ast import (
    FixedBytesType,
    ListType,
    MapType,
    OptionalType,
    PrimName,
    PrimType,
    RecordRef,
    TypeExpr,
)
from codegen.core.diagnostics import BAD_TYPE_EXPR, Diagnostic, did_you_mean
from codegen.core.span import Span, TextError

SpanOf = Callable[[int, int], Span]

PRIMS: Final[tuple[PrimName, ...]] = ("int", "str", "bytes", "bool", "float")
GENERICS: Final = ("list", "optional")
MAX_FIXED_BYTES: Final = 4096
# Nesting of list[...] / optional[...]; deeper is no sensible payload, and every later stage
# (codecs, rendering) recurses over types, so the limit is a diagnostic here.
MAX_TYPE_DEPTH: Final = 32
_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BYTES_N: Final = re.compile(r"bytes([0-9]+)\Z")

_HINT: Final = "types are int, str, bytes, bool, float, bytesN, list[T], optional[T], map[K, V] or a record name"
# Map keys: values with one canonical encoding and a total order (floats, records, lists
# and optionals are not keys).
KEY_HINT: Final = "map keys are int, str, bool, bytes or bytesN"


def type_text(t: TypeExpr) -> str:
    """The spec spelling of a type: the inverse of ``parse_type``, so it names one type."""
    match t:
        case PrimType():
            return t.name
        case FixedBytesType():
            return f"bytes{t.size}"
        case ListType():
            return f"list[{type_text(t.item)}]"
        case OptionalType():
            return f"optional[{type_text(t.item)}]"
        case MapType():
            return f"map[{type_text(t.key)}, {type_text(t.value)}]"
        case RecordRef():
            return t.name


def parse_type(text: str, span_of: SpanOf) -> TypeExpr | Diagnostic:
    """Parse a whole type expression; a Diagnostic (M107) when it is malformed."""
    pos = 0

    def fail(at: int, end: int, msg: str, hint: str = _HINT) -> TextError:
        return TextError(at, end, msg, hint)

    def skip() -> None:
        nonlocal pos
        while pos < len(text) and text[pos] == " ":
            pos += 1

    def item(depth: int) -> TypeExpr:
        nonlocal pos
        skip()
        m = _WORD.match(text, pos)
        if m is None:
            found = repr(text[pos]) if pos < len(text) else "the end"
            raise fail(pos, pos + 1, f"expected a type name, found {found}")
        start, word = pos, m.group()
        pos = m.end()
        skip()
        if word == "map":
            if pos >= len(text) or text[pos] != "[":
                raise fail(start, start + len(word), "'map' needs a key and a value type: map[K, V]")
            if depth >= MAX_TYPE_DEPTH:
                raise fail(start, start + len(word), f"the type nests more than {MAX_TYPE_DEPTH} levels deep", "")
            pos += 1
            key_start = pos
            key = item(depth + 1)
            if not isinstance(key, PrimType | FixedBytesType) or (isinstance(key, PrimType) and key.name == "float"):
                raise fail(key_start + (len(text[key_start:]) - len(text[key_start:].lstrip(" "))), pos, f"{type_text(key)} cannot be a map key", KEY_HINT)
            skip()
            if pos >= len(text) or text[pos] != ",":
                found = repr(text[pos]) if pos < len(text) else "the end"
                raise fail(pos, pos + 1, f"expected ',' between the key and value types of map, found {found}", "map[K, V]")
            pos += 1
            value = item(depth + 1)
            skip()
            if pos >= len(text) or text[pos] != "]":
                found = repr(text[pos]) if pos < len(text) else "the end"
                raise fail(pos, pos + 1, f"expected ']' to close map[...], found {found}")
            pos += 1
            return MapType(key, value, span_of(start, pos))
        if word in GENERICS:
            if pos >= len(text) or text[pos] != "[":
                raise fail(start, start + len(word), f"'{word}' needs an item type: {word}[T]")
            if depth >= MAX_TYPE_DEPTH:
                raise fail(start, start + len(word), f"the type nests more than {MAX_TYPE_DEPTH} levels deep", "")
            pos += 1
            inner = item(depth + 1)
            skip()
            if pos >= len(text) or text[pos] != "]":
                found = repr(text[pos]) if pos < len(text) else "the end"
                raise fail(pos, pos + 1, f"expected ']' to close {word}[...], found {found}")
            pos += 1
            span = span_of(start, pos)
            return ListType(inner, span) if word == "list" else OptionalType(inner, span)
        span = span_of(start, start + len(word))
        if pos < len(text) and text[pos] == "[":
            hint = did_you_mean(word, (*GENERICS, "map")) or "only list[T], optional[T] and map[K, V] take type arguments"
            raise fail(start, start + len(word), f"'{word}' does not take a type argument", hint)
        if word in PRIMS:
            return PrimType(word, span)
        fixed = _BYTES_N.match(word)
        if fixed:
            size = int(fixed.group(1)) if len(fixed.group(1)) < 6 else MAX_FIXED_BYTES + 1
            if not 1 <= size <= MAX_FIXED_BYTES:
                raise fail(start, start + len(word), f"fixed-size bytes must be 1 to {MAX_FIXED_BYTES} long, not {fixed.group(1)}", "")
            return FixedBytesType(size, span)
        return RecordRef(word, span)

    try:
        result = item(0)
        skip()
        if pos < len(text):
            raise fail(pos, len(text), f"unexpected {text[pos:]!r} after the type")
        return result
    except TextError as f:
        end = max(f.end, f.start + 1) if f.end <= len(text) else f.start
        return Diagnostic(BAD_TYPE_EXPR, span_of(f.start, end), f.message, f.hint)
