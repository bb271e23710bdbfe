"""The linearity lint (``minuet lint``): the corpus in ``cases.test``, no false positive on
any correct program of the typecheck corpus or the examples, and the CLI's contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codegen.analysis.lint import lint_paths, lint_source
from codegen.cli import main as minuet

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
_CASE = re.compile(r"^\[case (?P<name>[a-z0-9_]+)\]\s*$")
_EXPECT = re.compile(r"#\s*L:\s*(?P<code>M7\d\d)\s*(?P<text>.*?)\s*$")

from tests.typecheck.test_typecheck_corpus import CASES_DIR, parse_cases  # noqa: E402


@dataclass(frozen=True)
class LintCase:
    name: str
    source: str
    expected: tuple[tuple[int, str, str], ...]  # (line, code, text in the message)


def lint_cases() -> list[LintCase]:
    cases: list[LintCase] = []
    name: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if name is None:
            return
        expected = tuple(
            (i, m["code"], m["text"])
            for i, text in enumerate(lines, start=1)
            if (m := _EXPECT.search(text))
        )
        cases.append(LintCase(name, "\n".join(lines) + "\n", expected))

    for text in (HERE / "cases.test").read_text(encoding="utf-8").splitlines():
        m = _CASE.match(text)
        if m:
            flush()
            name, lines = m["name"], []
        elif name is not None:
            lines.append(text)
        elif text.strip() and not text.startswith("--"):
            raise ValueError(f"text before the first case: {text!r}")
    flush()
    return cases


CASES = lint_cases()


def test_corpus_has_both_kinds() -> None:
    assert sum(1 for c in CASES if c.expected) >= 40
    assert sum(1 for c in CASES if not c.expected) >= 10


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_lint_case(case: LintCase) -> None:
    found = lint_source(case.source, f"{case.name}.py")
    got = [(d.span.line, d.code) for d in found]
    assert got == [(line, code) for line, code, _text in case.expected], "\n".join(
        d.headline() for d in found
    )
    for d, (_line, _code, text) in zip(found, case.expected, strict=True):
        assert text in d.message, d.message
        assert d.span.file == f"{case.name}.py" and d.span.col >= 1 and d.hint


def test_no_false_positive_on_correct_typecheck_programs() -> None:
    correct = [c for f in sorted(CASES_DIR.glob("*.test")) for c in parse_cases(f) if c.correct]
    assert len(correct) >= 15
    for c in correct:
        assert lint_source(c.source, c.name) == (), c.name


def test_examples_and_role_programs_are_clean() -> None:
    diagnostics, sources = lint_paths([str(ROOT / "examples"), str(ROOT / "tests/runtime/roles")])
    assert len(sources) >= 10 and diagnostics == ()


def test_the_deliberate_runtime_double_uses_are_found() -> None:
    # The runtime tests misuse states on purpose to see LinearityError; the lint finds each.
    diagnostics, _ = lint_paths([str(ROOT / "tests/typecheck/test_corpus_runs.py")])
    assert [d.code for d in diagnostics] == ["M700"]


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.py"
    good.write_text(next(c.source for c in CASES if not c.expected), encoding="utf-8")
    bad = tmp_path / "bad.py"
    bad.write_text(CASES[0].source, encoding="utf-8")
    broken = tmp_path / "broken.py"
    broken.write_text("async def f(:\n", encoding="utf-8")
    assert minuet(["lint", str(good)]) == 0
    assert "ok: 1 file, no state used twice" in capsys.readouterr().out
    assert minuet(["lint", str(bad), str(good)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:7:11: error: " in err and "   7 |     await s1.send_ping" in err
    assert err.rstrip().endswith("1 error")
    assert minuet(["lint", str(broken)]) == 1
    assert "not valid Python" in capsys.readouterr().err
    assert minuet(["lint", str(tmp_path / "missing.py")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


# --- property: random programs against a path-by-path reference ----------------------------

_NAMES = ["s0", "s1", "s2", "s3"]


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A role function over states s0..s3 (all parameters): random steps
    ``x = await y.step()`` / ``await y.step()``, some under ``if flag:``. Returns the source
    and, per line, the finding a path-by-path reference expects ("" for none)."""
    n = draw(st.integers(1, 10))
    steps = [
        (draw(st.sampled_from(_NAMES)), draw(st.sampled_from([*_NAMES, None])), draw(st.booleans()))
        for _ in range(n)
    ]
    lines = ["async def role(s0: Role_S0, s1: Role_S1, s2: Role_S2, s3: Role_S3, flag: bool) -> None:"]
    where: list[int] = []  # line (1-based) of each step
    for user, target, branch in steps:
        step = f"await {user}.step()" if target is None else f"{target} = await {user}.step()"
        if branch:
            lines.append("    if flag:")
        lines.append(("        " if branch else "    ") + step)
        where.append(len(lines))
    lines.append("    return None")
    # Every path: each `if` taken or not, independently (as the lint treats them).
    branches = [k for k, (_u, _t, b) in enumerate(steps) if b]
    double = [[False, False] for _ in steps]  # per step: double use on some path / all paths
    runs = [0] * len(steps)
    for mask in range(2 ** len(branches)):
        taken = {k for bit, k in enumerate(branches) if mask >> bit & 1}
        used: set[str] = set()
        for k, (user, target, branch) in enumerate(steps):
            if branch and k not in taken:
                continue
            twice = user in used
            runs[k] += 1
            double[k][0] |= twice
            double[k][1] = (double[k][1] or runs[k] == 1) and twice
            used.add(user)
            if target is not None:
                used.discard(target)
    expected = [""] * (len(lines) + 1)
    for k, (some, every) in enumerate(double):
        if some:
            expected[where[k]] = "M700" if every else "M701"
    return "\n".join(lines) + "\n", expected


@settings(max_examples=400, deadline=None)
@given(programs())
def test_lint_agrees_with_a_path_by_path_reference(program: tuple[str, list[str]]) -> None:
    source, expected = program
    found = lint_source(source, "p.py")
    got = [""] * len(expected)
    for d in found:
        got[d.span.line] = d.code
    assert got == expected, source + "\n".join(d.headline() for d in found)


def test_the_benchmark_program_is_clean_and_a_planted_reuse_is_found() -> None:
    from bench.lint import program

    source = program(100)
    assert lint_source(source, "bench.py") == ()
    planted = source.replace("    await s.select_exit()\n", "    await s.select_exit()\n    await s.select_exit()\n", 1)
    assert [d.code for d in lint_source(planted, "bench.py")] == ["M700"]


def test_no_false_positive_anywhere_in_the_repo() -> None:
    # Every finding on the repo's own code is a deliberate double use that a run-time test
    # expects to raise LinearityError.
    dirs = ["runtime", "tests", "bench", "examples"]  # where role code lives
    diagnostics, sources = lint_paths([str(ROOT / d) for d in dirs])
    assert len(sources) > 100
    for d in diagnostics:
        lines = sources[d.span.file].splitlines()
        near = "\n".join(lines[max(0, d.span.line - 3) : d.span.line])
        assert d.code == "M700" and ("LinearityError" in near or "second use" in near), d.headline()
    assert len(diagnostics) >= 4
