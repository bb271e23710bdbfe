"""Located diagnostics and the registry of their stable codes.

Every error a spec can earn has a code here (``M1xx`` YAML and syntax, ``M2xx`` names and
declarations, ``M3xx`` protocol structure and projectability, ``M4xx`` families,
``M5xx`` sub-protocols, ``M6xx`` generation, ``M7xx`` the linearity lint of user code).
Codes are never reused or renumbered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Final, Literal

from codegen.span import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    name: str
    summary: str


_CODES: Final[tuple[Code, ...]] = (
    # -- YAML and syntax
    Code("M100", "yaml-syntax", "the file is not valid YAML"),
    Code("M101", "yaml-tab", "a tab character is used for indentation"),
    Code("M102", "yaml-duplicate-key", "a mapping repeats a key"),
    Code("M103", "unknown-key", "a key is not part of the spec language"),
    Code("M104", "wrong-type", "a value has the wrong YAML type"),
    Code("M105", "missing-key", "a required key is absent"),
    Code("M106", "bad-interaction", "an interaction line cannot be parsed"),
    Code("M107", "bad-type-expr", "a payload type expression cannot be parsed"),
    Code("M108", "bad-guard", "a guard expression cannot be parsed"),
    Code("M109", "bad-role-decl", "a role declaration cannot be parsed"),
    Code("M110", "bad-identifier", "a name is not a valid identifier or is reserved"),
    Code("M111", "yaml-anchor", "YAML anchors, aliases and tags are not allowed in specs"),
    Code("M112", "empty-spec", "the file holds no protocol"),
    Code("M113", "unreadable-file", "the spec file cannot be read, is not UTF-8 or is larger than 8 MiB"),
    # -- names and declarations
    Code("M200", "undefined-role", "an interaction names a role that is not declared"),
    Code("M201", "duplicate-role", "a role is declared twice"),
    Code("M202", "unused-role", "a declared role takes part in no interaction"),
    Code("M203", "undefined-message", "an interaction names a message that is not declared"),
    Code("M204", "duplicate-message", "a message or record is declared twice"),
    Code("M205", "unused-message", "a declared message is never sent"),
    Code("M206", "undefined-type", "a field names a record type that is not declared"),
    Code("M207", "duplicate-field", "a message or record repeats a field name"),
    Code("M208", "recursive-record", "a record contains itself without indirection"),
    Code("M209", "undefined-param", "a name is used as a parameter but not declared"),
    Code("M210", "duplicate-param", "a parameter or guard variable is declared twice"),
    Code("M211", "name-collision", "two spec names map to the same generated identifier"),
    Code("M212", "undefined-guard-name", "a guard reads a name that is neither a parameter nor a guard variable"),
    Code("M213", "guard-type", "a guard expression is ill-typed"),
    Code("M214", "undefined-step", "a statement runs a local step that is not declared"),
    Code("M215", "unused-step", "a declared local step is never run"),
    Code("M216", "bad-union", "a tagged union lists something other than two or more distinct records"),
    # -- protocol structure
    Code("M300", "self-send", "a role sends to itself"),
    Code("M301", "duplicate-label", "a choice has two branches with the same label"),
    Code("M302", "chooser-not-first", "a branch does not start with an action of the chooser"),
    Code("M303", "unmergeable-branches", "a role cannot tell which branch was chosen"),
    Code("M304", "unguarded-recursion", "a recursion variable is reached without any interaction"),
    Code("M305", "unbound-continue", "continue names no enclosing rec"),
    Code("M306", "duplicate-rec", "a rec reuses the name of an enclosing rec"),
    Code("M307", "loop-not-informed", "a role in a decided loop is not told whether it goes on"),
    Code("M308", "parallel-race", "parallel branches use the same ordered channel"),
    Code("M309", "empty-body", "a branch, loop, rec or protocol body is empty"),
    Code("M310", "unreachable", "statements follow a continue and can never run"),
    Code("M311", "bad-loop", "a loop has neither or both of count and decides"),
    Code("M312", "single-branch-choice", "a choice has fewer than two branches (one: a warning)"),
    Code("M313", "continue-across-parallel", "continue jumps out of a parallel branch"),
    Code("M314", "bad-annotation", "an annotation has an invalid value"),
    Code("M315", "continue-across-loop", "continue jumps out of a loop body"),
    Code("M316", "ambiguous-choice", "two branches of a choice open with the same message"),
    Code("M317", "loop-starvation", "a role of a loop is not told, on some path, that the loop goes round again"),
    Code("M318", "guards-not-exhaustive", "the guards of a choice can all be false at once"),
    Code("M319", "dead-guard", "a guard can never hold (warning)"),
    Code("M320", "bad-failure-branch", "a failure branch is put where no single role may fail"),
    Code("M321", "failed-role-acts", "a failure branch lets the failed role act"),
    Code("M322", "failure-not-informed", "a surviving role cannot tell whether the failure branch was taken"),
    # -- families
    Code("M400", "index-out-of-bounds", "a family index or range is outside the family"),
    Code("M401", "empty-range", "a family range selects no member"),
    Code("M402", "reversed-range", "a family range has its bounds the wrong way round"),
    Code("M403", "index-on-single-role", "a single role is used with an index"),
    Code("M404", "missing-index", "a family is used without an index"),
    Code("M405", "bad-index-var", "an index variable is used inconsistently"),
    Code("M406", "unsupported-family-form", "this combination of family references is not supported"),
    # -- sub-protocols
    Code("M500", "undefined-subprotocol", "a call names a sub-protocol that is not defined"),
    Code("M501", "call-arity", "a call passes the wrong number of roles"),
    Code("M502", "call-role-mapping", "a call passes a role that cannot fill the formal role"),
    Code("M503", "unguarded-call-cycle", "sub-protocols call each other without any interaction"),
    Code("M504", "duplicate-subprotocol", "a sub-protocol is defined twice"),
    Code("M505", "import-cycle", "spec files import each other in a cycle"),
    Code("M506", "import-missing", "an imported spec file cannot be read"),
    Code("M507", "import-conflict", "an import brings a name declared differently here, or a file twice"),
    Code("M508", "import-invalid", "an imported spec has errors"),
    # -- generation
    Code("M600", "not-generable", "the protocol cannot be turned into typed code"),
    Code("M601", "generated-name-collision", "two generated identifiers of one module would be the same"),
    Code("M602", "namespace-conflict", "two specs generate the same module, or a module and a package clash"),
    Code("M603", "foreign-file", "a generated module would overwrite a file Minuet did not generate from these specs"),
    Code("M604", "stale-output", "a generated file is missing, out of date or left over (generate --check)"),
    # -- linearity lint of user code (minuet lint)
    Code("M700", "state-reused", "a state object is used twice on a path"),
    Code("M701", "state-maybe-reused", "a state object may be used twice (on some path)"),
    Code("M702", "state-reused-in-loop", "a state bound before a loop is used by every iteration"),
    Code("M703", "lint-unreadable", "a file to lint cannot be read or is not valid Python"),
    Code("M704", "variant-unmatched", "an offer()/next()/participation() result is not matched over all its variants"),
)

CODES: Final[dict[str, Code]] = {c.code: c for c in _CODES}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    span: Span
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered diagnostic code {self.code}")

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    @property
    def name(self) -> str:
        return CODES[self.code].name

    @property
    def line(self) -> int:
        """1-based; a problem with the file as a whole (no position) points at its start."""
        return max(self.span.line, 1)

    @property
    def col(self) -> int:
        return max(self.span.col, 1) if self.span.line > 0 else 1

    def tag(self) -> str:
        return f"[{self.code} {self.name}]"

    def headline(self) -> str:
        """``file:line:col: error: message  [M103 unknown-key]``, the form gcc, mypy and
        editors' problem matchers parse."""
        return f"{self.span.file}:{self.line}:{self.col}: {self.severity}: {self.message}  {self.tag()}"


class DiagnosticError(Exception):
    """Raised by a stage that cannot continue; carries every diagnostic found."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sort_diagnostics(diagnostics)
        super().__init__("\n".join(d.headline() for d in self.diagnostics))


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Sorted by place, deduplicated: the same error found twice is reported once."""
    return tuple(sorted(set(diagnostics), key=lambda d: d.sort_key))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ``did you mean 'x'?`` suffix, or nothing when no choice is close."""
    close = get_close_matches(word, sorted(set(choices)), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


_SHOWN: Final = 200  # characters of a source line shown under a diagnostic
_CONTEXT: Final = 60  # of them before the caret, when the line is longer


def render(diagnostic: Diagnostic, source: str | None) -> str:
    """The headline, the source line with a caret, and the hint."""
    return _render(diagnostic, source.splitlines() if source is not None else None)


def _render(diagnostic: Diagnostic, text_lines: list[str] | None) -> str:
    lines = [diagnostic.headline()]
    if text_lines is not None and diagnostic.span.line > 0:
        if diagnostic.span.line <= len(text_lines):
            full = text_lines[diagnostic.span.line - 1]
            gutter = f"{diagnostic.span.line:>4} | "
            col = max(diagnostic.span.col, 1)
            width = 1
            if diagnostic.span.end_line == diagnostic.span.line and diagnostic.span.end_col > col:
                width = diagnostic.span.end_col - col
            # A long line is shown as a window around the caret: a one-line spec of a
            # megabyte would otherwise be printed whole for every diagnostic on it.
            text, offset = full.replace("\t", " "), col - 1
            if len(full) > _SHOWN:
                start = max(0, min(col - 1 - _CONTEXT, len(full) - _SHOWN))
                text = text[start : start + _SHOWN]
                if start > 0:
                    text = "..." + text[3:]
                if start + _SHOWN < len(full):
                    text = text[:-3] + "..."
                offset -= start
                width = max(1, min(width, len(text) - offset))
            lines.append(gutter + text)
            lines.append(" " * (len(gutter) - 2) + "| " + " " * offset + "^" * width)
    if diagnostic.hint:
        lines.append(f"  = help: {diagnostic.hint}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    ds = sort_diagnostics(diagnostics)
    # Each source is split into lines once, not once per diagnostic (a big spec with many
    # diagnostics was quadratic here).
    split: dict[str, list[str]] = {}

    def lines_of(file: str) -> list[str] | None:
        if file not in sources:
            return None
        if file not in split:
            split[file] = sources[file].splitlines()
        return split[file]

    out = [_render(d, lines_of(d.span.file)) for d in ds]
    errors = sum(1 for d in ds if d.severity == "error")
    if errors:
        out.append(f"{errors} error{'s' if errors != 1 else ''}")
    return "\n".join(out)


FORMATS: Final = ("text", "json", "github")
Format = Literal["text", "json", "github"]


def to_json(diagnostics: Iterable[Diagnostic]) -> str:
    """One JSON document: every diagnostic with its place, code and name, and the counts."""
    ds = sort_diagnostics(diagnostics)
    items = [
        {
            "file": d.span.file, "line": d.line, "column": d.col,
            "end_line": d.span.end_line or d.line, "end_column": d.span.end_col or d.col,
            "severity": d.severity, "code": d.code, "name": d.name,
            "message": d.message, "hint": d.hint,
        }
        for d in ds
    ]
    errors = sum(1 for d in ds if d.severity == "error")
    return json.dumps({"diagnostics": items, "errors": errors, "warnings": len(ds) - errors}, indent=2)


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_prop(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def to_github(diagnostics: Iterable[Diagnostic]) -> str:
    """GitHub Actions workflow commands (``::error file=...::message``): annotations on the diff."""
    lines = []
    for d in sort_diagnostics(diagnostics):
        props = [f"file={_gh_prop(d.span.file)}", f"line={d.line}", f"col={d.col}"]
        if d.span.end_line >= d.line and d.span.end_line > 0:
            props.append(f"endLine={d.span.end_line}")
            if d.span.end_col:
                props.append(f"endColumn={d.span.end_col}")
        props.append(f"title={_gh_prop(d.code + ' ' + d.name)}")
        message = d.message + (f" (help: {d.hint})" if d.hint else "")
        lines.append(f"::{d.severity} {','.join(props)}::{_gh_data(message)}")
    return "\n".join(lines)


def format_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str], fmt: Format) -> str:
    """Diagnostics as text (with source excerpts), a JSON document, or GitHub annotations."""
    if fmt == "json":
        return to_json(diagnostics)
    if fmt == "github":
        return to_github(diagnostics)
    return render_all(diagnostics, sources)
