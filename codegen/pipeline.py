"""load -> parse -> validate -> project, as one pure function over the spec text."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from codegen.ast import Protocol
from codegen.diagnostics import (
    IMPORT_CYCLE,
    IMPORT_INVALID,
    IMPORT_MISSING,
    UNDEFINED_SUBPROTOCOL,
    Diagnostic,
    sort_diagnostics,
)
from codegen.imports import Reader, read_text, resolve_imports
from codegen.load import load, read_spec
from codegen.local import LocalType
from codegen.parse import parse
from codegen.project import project_all
from codegen.validate import validate


@dataclass(frozen=True)
class Compiled:
    """Everything the later stages need; ``locals`` is empty unless the spec has no error."""

    protocol: Protocol | None
    locals: dict[str, LocalType]
    diagnostics: tuple[Diagnostic, ...]
    source: str
    imported: dict[str, str] = field(default_factory=dict)  # path -> text of imported specs

    def sources(self, path: str) -> dict[str, str]:
        """Every source a diagnostic may point into, for ``render_all``."""
        return {**self.imported, path: self.source}

    @property
    def ok(self) -> bool:
        return self.protocol is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")


_FAILED_IMPORT = frozenset({IMPORT_CYCLE, IMPORT_MISSING, IMPORT_INVALID})


def _has_error(diags: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diags)


@contextmanager
def gc_paused() -> Iterator[None]:
    """The pipeline allocates millions of small immutable nodes and frees none of them while
    it runs; the cycle collector's repeated full scans made it superlinear (4x at 100k)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def compile_text(text: str, filename: str, read: Reader = read_text) -> Compiled:
    """Compile spec ``text``; spans name ``filename`` exactly as given. Imports are read
    with ``read``, by their path joined to ``filename``'s directory."""
    with gc_paused():
        return _compile_text(text, filename, read)


def _compile_text(text: str, filename: str, read: Reader) -> Compiled:
    root, diags = load(text, filename)
    if root is None:
        return Compiled(None, {}, sort_diagnostics(diags), text)
    protocol, parse_diags = parse(root, filename)
    # The node tree is not needed past parsing: freeing it now lets the later stages reuse
    # its memory instead of growing the heap further (the AST keeps no node).
    del root
    diags.extend(parse_diags)
    if protocol is None:
        return Compiled(None, {}, sort_diagnostics(diags), text)
    imported: dict[str, str] = {}
    if protocol.imports:
        protocol, import_diags, imported = resolve_imports(protocol, read)
        diags.extend(import_diags)
    # After a syntax error, parts of the spec were skipped: "unused" findings would be noise.
    found = validate(protocol, partial=_has_error(diags))
    if any(d.code in _FAILED_IMPORT for d in diags):
        # What a failed import would have brought is unknown: calls to it are not news.
        found = [d for d in found if d.code != UNDEFINED_SUBPROTOCOL]
    diags.extend(found)
    if _has_error(diags):
        return Compiled(protocol, {}, sort_diagnostics(diags), text, imported)
    local_types, project_diags = project_all(protocol)
    diags.extend(project_diags)
    if _has_error(diags):
        return Compiled(protocol, {}, sort_diagnostics(diags), text, imported)
    return Compiled(protocol, dict(local_types), sort_diagnostics(diags), text, imported)


def compile_file(path: str | os.PathLike[str]) -> Compiled:
    """Read and compile a spec file; unreadable files are a diagnostic, not an exception."""
    filename = os.fspath(path)
    text, unreadable = read_spec(filename, filename)
    if unreadable is not None:
        return Compiled(None, {}, (unreadable,), "")
    return compile_text(text, filename)
