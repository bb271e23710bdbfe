"""How spec names map to generated Python identifiers: one place, shared by the parser
(which rejects names that would collide) and the generator (which emits them).

Message, record and role class names are used as written; method suffixes
(``send_<x>``, ``recv_<x>``, ``select_<label>``) and module names are ``snake_case`` of the
spec name. Two spec names that map to the same identifier are an error (M211).
"""

from __future__ import annotations

import keyword
import re
from typing import Final

# Re-exported: the rule lives in the runtime, which must not import the compiler.
from runtime.naming import snake_case as snake_case

_IDENT: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

# Names the generated modules define themselves or import at module level; a spec class
# (message, record, role) with one of these names would shadow them.
RESERVED_CLASS_NAMES: Final[frozenset[str]] = frozenset(
    {"End", "Session", "Channel", "Message", "Protocol", "Role", "State", "Any", "Final"}
)
# Attributes every generated message/record class has besides its fields.
RESERVED_FIELD_NAMES: Final[frozenset[str]] = frozenset({"label", "encode", "decode", "fields"})


def method_suffix(name: str) -> str:
    """The suffix of ``send_``/``recv_``/``select_`` methods for a message or label."""
    return snake_case(name)


def role_module(name: str) -> str:
    """The identifier a role is known by in snake-cased positions (modules, functions)."""
    return snake_case(name)


def default_namespace(protocol: str) -> str:
    return snake_case(protocol)


def identifier_problem(name: str) -> str | None:
    """Why ``name`` cannot be used as a spec name, or None when it can."""
    if not name:
        return "the name is empty"
    if name.startswith("_"):
        return f"{name!r} starts with '_', which generated code reserves"
    if not _IDENT.match(name):
        return f"{name!r} is not an identifier (letters, digits and '_', starting with a letter)"
    if keyword.iskeyword(name):
        return f"{name!r} is a Python keyword"
    return None
