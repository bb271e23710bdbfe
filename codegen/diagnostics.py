"""Located diagnostics and the registry of their stable codes.

Every error a spec can earn has a code here (``M1xx`` YAML and syntax, ``M2xx`` names and
declarations, ``M3xx`` protocol structure and projectability, ``M4xx`` families,
``M5xx`` sub-protocols, ``M6xx`` generation, ``M7xx`` the linearity lint of user code).
Codes are never reused or renumbered.
"""

from __future__ import annotations

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
    Code("M113", "unreadable-file", "the spec file cannot be read or is not UTF-8"),
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
    Code("M312", "single-branch-choice", "a choice has fewer than two branches"),
    Code("M313", "continue-across-parallel", "continue jumps out of a parallel branch"),
    Code("M314", "bad-annotation", "an annotation has an invalid value"),
    Code("M315", "continue-across-loop", "continue jumps out of a loop body"),
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
    # -- linearity lint of user code (minuet lint)
    Code("M700", "state-reused", "a state object is used twice on a path"),
    Code("M701", "state-maybe-reused", "a state object may be used twice (on some path)"),
    Code("M702", "state-reused-in-loop", "a state bound before a loop is used by every iteration"),
    Code("M703", "lint-unreadable", "a file to lint cannot be read or is not valid Python"),
)

CODES: Final[dict[str, Code]] = {c.code: c for c in _CODES}
BY_NAME: Final[dict[str, Code]] = {c.name: c for c in _CODES}


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

    def headline(self) -> str:
        return f"{self.span}: {self.severity}[{self.code}]: {self.message}"


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


def render(diagnostic: Diagnostic, source: str | None) -> str:
    """``file:line:col: error[CODE]: message``, the source line with a caret, and the hint."""
    lines = [diagnostic.headline()]
    if source is not None and diagnostic.span.line > 0:
        text_lines = source.splitlines()
        if diagnostic.span.line <= len(text_lines):
            text = text_lines[diagnostic.span.line - 1].replace("\t", " ")
            gutter = f"{diagnostic.span.line:>4} | "
            lines.append(gutter + text)
            col = max(diagnostic.span.col, 1)
            width = 1
            if diagnostic.span.end_line == diagnostic.span.line and diagnostic.span.end_col > col:
                width = diagnostic.span.end_col - col
            lines.append(" " * (len(gutter) - 2) + "| " + " " * (col - 1) + "^" * width)
    if diagnostic.hint:
        lines.append(f"  = help: {diagnostic.hint}")
    return "\n".join(lines)


def render_all(diagnostics: Iterable[Diagnostic], sources: dict[str, str]) -> str:
    ds = sort_diagnostics(diagnostics)
    out = [render(d, sources.get(d.span.file)) for d in ds]
    errors = sum(1 for d in ds if d.severity == "error")
    if errors:
        out.append(f"{errors} error{'s' if errors != 1 else ''}")
    return "\n".join(out)
