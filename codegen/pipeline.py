"""load -> parse -> validate -> project, as one pure function over the spec text."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from codegen.core.ast import Protocol
from codegen.core.diagnostics import (
    IMPORT_CYCLE,
    IMPORT_INVALID,
    IMPORT_MISSING,
    UNDEFINED_SUBPROTOCOL,
    Diagnostic,
    sort_diagnostics,
)
from codegen.core.gc import gc_paused
from codegen.core.local import LocalType
from codegen.frontend.imports import Reader, read_text, resolve_imports
from codegen.frontend.load import load, read_spec
from codegen.frontend.parse import parse
from codegen.frontend.validate import validate
from codegen.projection.project import project_all


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


def compile_text(text: str, filename: str, read: Reader = read_text) -> Compiled:
    """Compile spec ``text``; spans name ``filename`` exactly as given. Imports are read
    with ``read``, by their path joined to ``filename``'s directory."""
    with gc_paused():
        return _compile_text(text, filename, read)


def _projection_diagnostics(protocol: Protocol) -> list[Diagnostic]:
    return project_all(protocol)[1]


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
        protocol, import_diags, imported = resolve_imports(protocol, _projection_diagnostics, read)
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
