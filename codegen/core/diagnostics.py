"""Located diagnostics and the registry of their stable codes.

Every error a spec can earn has a code here (``M1xx`` YAML and syntax, ``M2xx`` names and
declarations, ``M3xx`` protocol structure and projectability, ``M4xx`` families,
``M5xx`` sub-protocols, ``M6xx`` generation, ``M7xx`` the linearity lint of user code).
Codes are never reused or renumbered. Each is a named constant (``UNMERGEABLE_BRANCHES`` is
``M303 unmergeable-branches``) that the stages pass to ``Diagnostic``; output shows the code
with its name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Final, Literal, final

from codegen.core.span import Span

Severity = Literal["error", "warning"]


@final
class Code(str):
    """A registered diagnostic code: the stable ``Mxxx`` string itself (so it compares, sorts
    and serialises as the code), carrying its kebab-case name and a one-line summary.

    Stages pass these named constants, never a bare ``"Mxxx"`` string: ``Diagnostic.code`` is
    typed ``Code``, so mypy rejects an unregistered or mistyped code at the call site.
    """

    name: str
    summary: str

    def __new__(cls, code: str, name: str, summary: str) -> Code:
        self = super().__new__(cls, code)
        self.name = name
        self.summary = summary
        return self


# -- YAML and syntax
YAML_SYNTAX: Final = Code("M100", "yaml-syntax", "the file is not valid YAML")
YAML_TAB: Final = Code("M101", "yaml-tab", "a tab character is used for indentation")
YAML_DUPLICATE_KEY: Final = Code("M102", "yaml-duplicate-key", "a mapping repeats a key")
UNKNOWN_KEY: Final = Code("M103", "unknown-key", "a key is not part of the spec language")
WRONG_TYPE: Final = Code("M104", "wrong-type", "a value has the wrong YAML type")
MISSING_KEY: Final = Code("M105", "missing-key", "a required key is absent")
BAD_INTERACTION: Final = Code("M106", "bad-interaction", "an interaction line cannot be parsed")
BAD_TYPE_EXPR: Final = Code("M107", "bad-type-expr", "a payload type expression cannot be parsed")
BAD_GUARD: Final = Code("M108", "bad-guard", "a guard expression cannot be parsed")
BAD_ROLE_DECL: Final = Code("M109", "bad-role-decl", "a role declaration cannot be parsed")
BAD_IDENTIFIER: Final = Code("M110", "bad-identifier", "a name is not a valid identifier or is reserved")
YAML_ANCHOR: Final = Code("M111", "yaml-anchor", "YAML anchors, aliases and tags are not allowed in specs")
EMPTY_SPEC: Final = Code("M112", "empty-spec", "the file holds no protocol")
UNREADABLE_FILE: Final = Code("M113", "unreadable-file", "the spec file cannot be read, is not UTF-8 or is larger than 8 MiB")

# -- names and declarations
UNDEFINED_ROLE: Final = Code("M200", "undefined-role", "an interaction names a role that is not declared")
DUPLICATE_ROLE: Final = Code("M201", "duplicate-role", "a role is declared twice")
UNUSED_ROLE: Final = Code("M202", "unused-role", "a declared role takes part in no interaction")
UNDEFINED_MESSAGE: Final = Code("M203", "undefined-message", "an interaction names a message that is not declared")
DUPLICATE_MESSAGE: Final = Code("M204", "duplicate-message", "a message or record is declared twice")
UNUSED_MESSAGE: Final = Code("M205", "unused-message", "a declared message is never sent")
UNDEFINED_TYPE: Final = Code("M206", "undefined-type", "a field names a record type that is not declared")
DUPLICATE_FIELD: Final = Code("M207", "duplicate-field", "a message or record repeats a field name")
RECURSIVE_RECORD: Final = Code("M208", "recursive-record", "a record contains itself without indirection")
UNDEFINED_PARAM: Final = Code("M209", "undefined-param", "a name is used as a parameter but not declared")
DUPLICATE_PARAM: Final = Code("M210", "duplicate-param", "a parameter or guard variable is declared twice")
NAME_COLLISION: Final = Code("M211", "name-collision", "two spec names map to the same generated identifier")
UNDEFINED_GUARD_NAME: Final = Code("M212", "undefined-guard-name", "a guard reads a name that is neither a parameter nor a guard variable")
GUARD_TYPE: Final = Code("M213", "guard-type", "a guard expression is ill-typed")
UNDEFINED_STEP: Final = Code("M214", "undefined-step", "a statement runs a local step that is not declared")
UNUSED_STEP: Final = Code("M215", "unused-step", "a declared local step is never run")
BAD_UNION: Final = Code("M216", "bad-union", "a tagged union lists something other than two or more distinct records")

# -- protocol structure
SELF_SEND: Final = Code("M300", "self-send", "a role sends to itself")
DUPLICATE_LABEL: Final = Code("M301", "duplicate-label", "a choice has two branches with the same label")
CHOOSER_NOT_FIRST: Final = Code("M302", "chooser-not-first", "a branch does not start with an action of the chooser")
UNMERGEABLE_BRANCHES: Final = Code("M303", "unmergeable-branches", "a role cannot tell which branch was chosen")
UNGUARDED_RECURSION: Final = Code("M304", "unguarded-recursion", "a recursion variable is reached without any interaction")
UNBOUND_CONTINUE: Final = Code("M305", "unbound-continue", "continue names no enclosing rec")
DUPLICATE_REC: Final = Code("M306", "duplicate-rec", "a rec reuses the name of an enclosing rec")
LOOP_NOT_INFORMED: Final = Code("M307", "loop-not-informed", "a role in a decided loop is not told whether it goes on")
PARALLEL_RACE: Final = Code("M308", "parallel-race", "parallel branches use the same ordered channel")
EMPTY_BODY: Final = Code("M309", "empty-body", "a branch, loop, rec or protocol body is empty")
UNREACHABLE: Final = Code("M310", "unreachable", "statements follow a continue and can never run")
BAD_LOOP: Final = Code("M311", "bad-loop", "a loop has neither or both of count and decides")
SINGLE_BRANCH_CHOICE: Final = Code("M312", "single-branch-choice", "a choice has fewer than two branches (one: a warning)")
CONTINUE_ACROSS_PARALLEL: Final = Code("M313", "continue-across-parallel", "continue jumps out of a parallel branch")
BAD_ANNOTATION: Final = Code("M314", "bad-annotation", "an annotation has an invalid value")
CONTINUE_ACROSS_LOOP: Final = Code("M315", "continue-across-loop", "continue jumps out of a loop body")
AMBIGUOUS_CHOICE: Final = Code("M316", "ambiguous-choice", "two branches of a choice open with the same message")
LOOP_STARVATION: Final = Code("M317", "loop-starvation", "a role of a loop is not told, on some path, that the loop goes round again")
GUARDS_NOT_EXHAUSTIVE: Final = Code("M318", "guards-not-exhaustive", "the guards of a choice can all be false at once")
DEAD_GUARD: Final = Code("M319", "dead-guard", "a guard can never hold (warning)")
BAD_FAILURE_BRANCH: Final = Code("M320", "bad-failure-branch", "a failure branch is put where no single role may fail")
FAILED_ROLE_ACTS: Final = Code("M321", "failed-role-acts", "a failure branch lets the failed role act")
FAILURE_NOT_INFORMED: Final = Code("M322", "failure-not-informed", "a surviving role cannot tell whether the failure branch was taken")
BAD_EPOCH_BUMP: Final = Code("M323", "bad-epoch-bump", "an epoch bump names part of a family, or leaves out a role still in the session")

# -- families
INDEX_OUT_OF_BOUNDS: Final = Code("M400", "index-out-of-bounds", "a family index or range is outside the family")
EMPTY_RANGE: Final = Code("M401", "empty-range", "a family range selects no member")
REVERSED_RANGE: Final = Code("M402", "reversed-range", "a family range has its bounds the wrong way round")
INDEX_ON_SINGLE_ROLE: Final = Code("M403", "index-on-single-role", "a single role is used with an index")
MISSING_INDEX: Final = Code("M404", "missing-index", "a family is used without an index")
BAD_INDEX_VAR: Final = Code("M405", "bad-index-var", "an index variable is used inconsistently")
UNSUPPORTED_FAMILY_FORM: Final = Code("M406", "unsupported-family-form", "this combination of family references is not supported")
BAD_CHOSEN_ROLE: Final = Code("M407", "bad-chosen-role", "a role chosen at run time is declared or used where it cannot be")
CHOICE_NOT_KNOWN: Final = Code("M408", "choice-not-known", "a role chosen at run time is not known to every role that needs it")
BAD_RING_INDEX: Final = Code("M409", "bad-ring-index", "a ring index names something other than the family's index variable and size")

# -- sub-protocols
UNDEFINED_SUBPROTOCOL: Final = Code("M500", "undefined-subprotocol", "a call names a sub-protocol that is not defined")
CALL_ARITY: Final = Code("M501", "call-arity", "a call passes the wrong number of roles")
CALL_ROLE_MAPPING: Final = Code("M502", "call-role-mapping", "a call passes a role that cannot fill the formal role")
UNGUARDED_CALL_CYCLE: Final = Code("M503", "unguarded-call-cycle", "sub-protocols call each other without any interaction")
DUPLICATE_SUBPROTOCOL: Final = Code("M504", "duplicate-subprotocol", "a sub-protocol is defined twice")
IMPORT_CYCLE: Final = Code("M505", "import-cycle", "spec files import each other in a cycle")
IMPORT_MISSING: Final = Code("M506", "import-missing", "an imported spec file cannot be read")
IMPORT_CONFLICT: Final = Code("M507", "import-conflict", "an import brings a name declared differently here, or a file twice")
IMPORT_INVALID: Final = Code("M508", "import-invalid", "an imported spec has errors")

# -- generation
NOT_GENERABLE: Final = Code("M600", "not-generable", "the protocol cannot be turned into typed code")
GENERATED_NAME_COLLISION: Final = Code("M601", "generated-name-collision", "two generated identifiers of one module would be the same")
NAMESPACE_CONFLICT: Final = Code("M602", "namespace-conflict", "two specs generate the same module, or a module and a package clash")
FOREIGN_FILE: Final = Code("M603", "foreign-file", "a generated module would overwrite a file Minuet did not generate from these specs")
STALE_OUTPUT: Final = Code("M604", "stale-output", "a generated file is missing, out of date or left over (generate --check)")

# -- linearity lint of user code (minuet lint)
STATE_REUSED: Final = Code("M700", "state-reused", "a state object is used twice on a path")
STATE_MAYBE_REUSED: Final = Code("M701", "state-maybe-reused", "a state object may be used twice (on some path)")
STATE_REUSED_IN_LOOP: Final = Code("M702", "state-reused-in-loop", "a state bound before a loop is used by every iteration")
LINT_UNREADABLE: Final = Code("M703", "lint-unreadable", "a file to lint cannot be read or is not valid Python")
VARIANT_UNMATCHED: Final = Code("M704", "variant-unmatched", "an offer()/next()/participation() result is not matched over all its variants")

_CODES: Final[tuple[Code, ...]] = (
    YAML_SYNTAX,
    YAML_TAB,
    YAML_DUPLICATE_KEY,
    UNKNOWN_KEY,
    WRONG_TYPE,
    MISSING_KEY,
    BAD_INTERACTION,
    BAD_TYPE_EXPR,
    BAD_GUARD,
    BAD_ROLE_DECL,
    BAD_IDENTIFIER,
    YAML_ANCHOR,
    EMPTY_SPEC,
    UNREADABLE_FILE,
    UNDEFINED_ROLE,
    DUPLICATE_ROLE,
    UNUSED_ROLE,
    UNDEFINED_MESSAGE,
    DUPLICATE_MESSAGE,
    UNUSED_MESSAGE,
    UNDEFINED_TYPE,
    DUPLICATE_FIELD,
    RECURSIVE_RECORD,
    UNDEFINED_PARAM,
    DUPLICATE_PARAM,
    NAME_COLLISION,
    UNDEFINED_GUARD_NAME,
    GUARD_TYPE,
    UNDEFINED_STEP,
    UNUSED_STEP,
    BAD_UNION,
    SELF_SEND,
    DUPLICATE_LABEL,
    CHOOSER_NOT_FIRST,
    UNMERGEABLE_BRANCHES,
    UNGUARDED_RECURSION,
    UNBOUND_CONTINUE,
    DUPLICATE_REC,
    LOOP_NOT_INFORMED,
    PARALLEL_RACE,
    EMPTY_BODY,
    UNREACHABLE,
    BAD_LOOP,
    SINGLE_BRANCH_CHOICE,
    CONTINUE_ACROSS_PARALLEL,
    BAD_ANNOTATION,
    CONTINUE_ACROSS_LOOP,
    AMBIGUOUS_CHOICE,
    LOOP_STARVATION,
    GUARDS_NOT_EXHAUSTIVE,
    DEAD_GUARD,
    BAD_FAILURE_BRANCH,
    FAILED_ROLE_ACTS,
    FAILURE_NOT_INFORMED,
    BAD_EPOCH_BUMP,
    INDEX_OUT_OF_BOUNDS,
    EMPTY_RANGE,
    REVERSED_RANGE,
    INDEX_ON_SINGLE_ROLE,
    MISSING_INDEX,
    BAD_INDEX_VAR,
    UNSUPPORTED_FAMILY_FORM,
    BAD_CHOSEN_ROLE,
    CHOICE_NOT_KNOWN,
    BAD_RING_INDEX,
    UNDEFINED_SUBPROTOCOL,
    CALL_ARITY,
    CALL_ROLE_MAPPING,
    UNGUARDED_CALL_CYCLE,
    DUPLICATE_SUBPROTOCOL,
    IMPORT_CYCLE,
    IMPORT_MISSING,
    IMPORT_CONFLICT,
    IMPORT_INVALID,
    NOT_GENERABLE,
    GENERATED_NAME_COLLISION,
    NAMESPACE_CONFLICT,
    FOREIGN_FILE,
    STALE_OUTPUT,
    STATE_REUSED,
    STATE_MAYBE_REUSED,
    STATE_REUSED_IN_LOOP,
    LINT_UNREADABLE,
    VARIANT_UNMATCHED,
)

CODES: Final[dict[str, Code]] = {str(c): c for c in _CODES}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: Code
    span: Span
    message: str
    hint: str = ""
    severity: Severity = "error"

    def __post_init__(self) -> None:
        if CODES.get(self.code) is not self.code:
            raise ValueError(f"diagnostic code {self.code!r} is not one of the registered Code constants")

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.line, self.span.col, self.code, self.message)

    @property
    def name(self) -> str:
        return self.code.name

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
