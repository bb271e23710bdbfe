"""Validation rules: every check is registered, and each has a good and a bad case.

Most rules are covered end to end by tests/specs; here: the registry, the rules no YAML
file can reach (the loader rejects duplicate keys first), and the pipeline contract.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from codegen.core.ast import (
    Branch,
    Choice,
    Field,
    Interaction,
    Message,
    PrimType,
    Protocol,
    RoleDecl,
    RoleRef,
)
from codegen.core.span import Span
from codegen.frontend.validate import CHECKS, check_choices, check_duplicate_fields, validate
from codegen.pipeline import compile_file, compile_text

S = Span("t.yaml", 1, 1)


def codes(text: str) -> set[str]:
    return {d.code for d in compile_text(text, "t.yaml").diagnostics}


def spec(interactions: str, extra: str = "") -> str:
    return "protocol: P\nroles: [A, B, C]\nmessages: {M: {}, N: {}}\n" + extra + "interactions:\n" + interactions


def test_checks_are_named_functions() -> None:
    names = [c.__name__ for c in CHECKS]
    assert all(n.startswith("check_") for n in names)
    assert len(set(names)) == len(names)


def minimal() -> Protocol:
    a, b = RoleRef("A", S), RoleRef("B", S)
    return Protocol(
        "P", "t.yaml", S, (RoleDecl("A", "single", S), RoleDecl("B", "single", S)),
        (Message("M", (), S), Message("N", (), S)),
        (Interaction(a, b, "M", S, S), Interaction(a, b, "N", S, S)),
    )


def test_minimal_protocol_is_valid() -> None:
    assert validate(minimal()) == []


def test_duplicate_field_good_and_bad() -> None:
    good = minimal()
    assert list(check_duplicate_fields(good)) == []
    f = Field("x", PrimType("int", S), S)
    bad = dataclasses.replace(good, messages=(Message("M", (f, f), S), good.messages[1]))
    assert [d.code for d in check_duplicate_fields(bad)] == ["M207"]


def test_duplicate_label_good_and_bad() -> None:
    a, b = RoleRef("A", S), RoleRef("B", S)
    x = Branch("x", (Interaction(a, b, "M", S, S),), S)
    y = Branch("y", (Interaction(a, b, "N", S, S),), S)
    good = dataclasses.replace(minimal(), body=(Choice(a, (x, y), S),))
    assert list(check_choices(good)) == []
    bad = dataclasses.replace(minimal(), body=(Choice(a, (x, dataclasses.replace(y, label="x")), S),))
    assert "M301" in {d.code for d in check_choices(bad)}


@pytest.mark.parametrize(
    ("good", "bad", "code"),
    [
        ("  - A -> B: M\n  - B -> C: N\n", "  - A -> B: M\n  - B -> B: N\n  - B -> C: M\n", "M300"),
        (
            "  - choice at A:\n      x: [A -> B: M, B -> C: M]\n      y: [A -> B: N, B -> C: N]\n",
            "  - choice at A:\n      x: [A -> B: M, B -> C: M]\n      y: [B -> A: N, B -> C: N]\n",
            "M302",
        ),
        (
            "  - rec X:\n      - A -> B: M\n      - B -> C: N\n      - continue X\n",
            "  - A -> B: M\n  - B -> C: N\n  - rec X:\n      - continue X\n",
            "M304",
        ),
        (
            "  - loop: {decides: A, do: [A -> B: M, B -> C: N]}\n",
            "  - loop: {decides: C, do: [A -> B: M]}\n  - B -> C: N\n",
            "M307",
        ),
        (
            "  - parallel:\n      - [A -> B: M]\n      - [B -> C: N]\n",
            "  - parallel:\n      - [A -> B: M]\n      - [A -> B: N]\n  - B -> C: M\n",
            "M308",
        ),
    ],
)
def test_rule_good_and_bad(good: str, bad: str, code: str) -> None:
    assert codes(spec(good)) == set()
    assert code in codes(spec(bad))


def test_statements_after_compound_are_kept() -> None:
    compiled = compile_text(
        spec("  - choice at A:\n      x: [A -> B: M]\n      y: [A -> B: N]\n  - B -> C: M\n"
             "  - loop: {count: 2, do: [A -> C: M]}\n  - C -> A: N\n"),
        "t.yaml",
    )
    assert compiled.ok
    assert compiled.protocol is not None
    assert [type(s).__name__ for s in compiled.protocol.body] == ["Choice", "Interaction", "Loop", "Interaction"]


def test_errors_in_syntax_do_not_cascade_into_unused() -> None:
    found = codes(spec("  - A -> B: M\n  - A => C: N\n"))
    assert found == {"M106"}


def test_pipeline_unreadable_file(tmp_path: Path) -> None:
    missing = compile_file(tmp_path / "nope.yaml")
    assert [d.code for d in missing.diagnostics] == ["M113"]
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"protocol: \xe9\n")
    assert [d.code for d in compile_file(bad).diagnostics] == ["M113"]


def test_filename_is_kept_as_given() -> None:
    compiled = compile_text("protocol: P\n", "rel/dir/x.yaml")
    assert compiled.diagnostics and all(d.span.file == "rel/dir/x.yaml" for d in compiled.diagnostics)
    assert not compiled.ok and compiled.locals == {}
