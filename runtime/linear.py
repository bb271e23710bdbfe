"""Run-time linearity for generated state objects: each may be used exactly once."""

from __future__ import annotations

import sys
from types import CodeType
from typing import Final

from runtime.contract import Endpoint
from runtime.errors import LinearityError

# Generated constructors demand this token, so user code cannot forge states.
PRIVATE: Final = object()


def forged(state: object) -> TypeError:
    return TypeError(
        f"{type(state).__name__} has no public constructor: states come from a "
        "role's entry point or from the previous state's method"
    )


def line_at(code: CodeType, offset: int) -> int | None:
    """The source line of the instruction at byte ``offset`` of ``code`` (``frame.f_lasti``)."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


class LinearState:
    """Base of every generated state class."""

    __slots__ = ("_ep", "_used_at")

    def __init__(self, ep: Endpoint, token: object) -> None:
        if token is not PRIVATE:
            raise forged(self)
        self._ep = ep
        # Where the state was used: (code, instruction offset, method), turned into a line
        # only for the error: _take runs on every message, and f_lineno costs a walk of
        # the caller's line table (microseconds in a long role function).
        self._used_at: tuple[CodeType, int, str] | None = None

    def _take(self, method: str, depth: int = 2) -> Endpoint:
        """Consume this state for ``method``; a second use raises ``LinearityError``.

        ``depth`` is the user's frame: 2 when the generated method calls this directly, 3
        through a shared ``genlib`` helper."""
        used = self._used_at
        if used is not None:
            first = f"{used[0].co_filename}:{line_at(used[0], used[1])} in {used[2]}()"
            error = LinearityError(type(self).__name__, method, first)
            self._ep.local_violation(error)
            raise error
        # Frame ``depth`` is the user's code: 0 is _take, 1 the generated method (or helper).
        frame = sys._getframe(depth)
        self._used_at = (frame.f_code, frame.f_lasti, method)
        return self._ep

    @property
    def used(self) -> bool:
        return self._used_at is not None
