"""Source locations."""

from __future__ import annotations

from typing import NamedTuple


class Span(NamedTuple):
    """A position in a spec file; ``line`` and ``col`` are 1-based.

    A named tuple rather than a frozen dataclass: the compiler builds one for nearly every
    token of a spec, and a tuple is built about three times faster; it is just as immutable,
    hashable and ordered (by file, line, col, end_line, end_col)."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"



class TextError(Exception):
    """A syntax error inside one scalar's text (an interaction line, a type, a guard), at
    character offsets of that text; the caller places it in the file and picks the code."""

    def __init__(self, start: int, end: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.start, self.end, self.message, self.hint = start, end, message, hint
