"""The typestate proof corpus: user programs over generated protocols, checked by mypy --strict.

Cases live in ``tests/typecheck/cases/*.test`` in the style of mypy's own test data::

    [case name]
    from generated.examples.two_buyer import Buyer1_S0
    async def f(s: Buyer1_S0) -> None:
        await s.recv_quote()  # E: "Buyer1_S0" has no attribute "recv_quote"  [attr-defined]

A case without ``# E:`` comments must type-check cleanly (and may not use ``# type: ignore``).
Every expected error must appear at its line with the same code and a message containing
the expected text, and no other error may appear.

All cases are written as modules of one temporary package and checked by ONE mypy run
(fresh cache, repo root on MYPYPATH), so the corpus costs one mypy start-up, not one per case.
Run ``python tests/typecheck/test_typecheck_corpus.py`` to print the actual errors of each case.
"""

from __future__ import annotations

import re
import sys
import tempfile
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from codegen.backend.check import MypyMessage, MypyResult, run_mypy

CASES_DIR = Path(__file__).parent / "cases"
REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "tc_cases"

_CASE = re.compile(r"^\[case (?P<name>[a-z0-9_]+)\]\s*$")
_EXPECT = re.compile(r"#\s*E:\s*(?P<message>.*?)\s+\[(?P<code>[a-z0-9-]+)\]\s*(?=#\s*E:|$)")
MIN_WRONG = 70
MIN_CORRECT = 35
# The recommended configuration for role code (docs/codegen.md; pyproject's [tool.mypy] sets
# the same): one name rebound through every step type-checks, a name bound on some paths
# only is an error, and code after an exhaustive match is unreachable.
RECOMMENDED = ("--allow-redefinition", "--local-partial-types", "--enable-error-code=possibly-undefined")


@dataclass(frozen=True)
class Expected:
    line: int
    code: str
    message: str


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    first_line: int  # line of the first source line in the .test file
    source: str
    expected: tuple[Expected, ...]

    @property
    def module(self) -> str:
        return f"{PACKAGE}.{self.name}"

    @property
    def correct(self) -> bool:
        return not self.expected


def parse_cases(path: Path) -> list[Case]:
    cases: list[Case] = []
    name: str | None = None
    start = 0
    lines: list[str] = []

    def flush() -> None:
        if name is None:
            return
        while lines and not lines[-1].strip():
            lines.pop()
        expected = []
        for i, text in enumerate(lines, start=1):
            for m in _EXPECT.finditer(text):
                expected.append(Expected(i, m["code"], m["message"]))
        cases.append(Case(name, path.name, start, "\n".join(lines) + "\n", tuple(expected)))

    for lineno, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        m = _CASE.match(text)
        if m:
            flush()
            name, start, lines = m["name"], lineno + 1, []
        elif name is not None:
            lines.append(text)
        elif text.strip() and not text.startswith("--"):
            raise ValueError(f"{path.name}:{lineno}: text before the first [case]")
    flush()
    return cases


DOCS = REPO_ROOT / "docs" / "codegen.md"


def docs_first_example() -> Case:
    """The first Python block of docs/codegen.md, as written: it must type-check cleanly."""
    text = DOCS.read_text(encoding="utf-8")
    start = text.index("```python\n") + len("```python\n")
    source = text[start:text.index("```", start)]
    return Case("docs_first_example", DOCS.name, text[:start].count("\n") + 1, source, ())


@cache
def all_cases() -> tuple[Case, ...]:
    cases = [c for p in sorted(CASES_DIR.glob("*.test")) for c in parse_cases(p)]
    cases.append(docs_first_example())
    seen: dict[str, str] = {}
    for c in cases:
        if c.name in seen:
            raise ValueError(f"case {c.name} is defined in both {seen[c.name]} and {c.file}")
        seen[c.name] = c.file
    return tuple(cases)


@cache
def corpus_result() -> tuple[MypyResult, dict[str, list[MypyMessage]]]:
    """One mypy --strict run over every case; messages grouped by case name."""
    with tempfile.TemporaryDirectory(prefix="minuet-typecheck-") as tmp:
        pkg = Path(tmp) / "src" / PACKAGE
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        files = []
        for c in all_cases():
            f = pkg / f"{c.name}.py"
            f.write_text(c.source, encoding="utf-8")
            files.append(f)
        # The generated modules themselves are checked in the same run.
        files += sorted((REPO_ROOT / "generated").rglob("*.py"))
        result = run_mypy(files, cache_dir=Path(tmp) / "cache", search_path=(REPO_ROOT, Path(tmp) / "src"),
                          extra=RECOMMENDED)
    by_case: dict[str, list[MypyMessage]] = {c.name: [] for c in all_cases()}
    for msg in result.messages:
        stem = Path(msg.path).stem
        if msg.severity == "error":
            by_case.setdefault(stem if stem in by_case else "<outside>", []).append(msg)
    return result, by_case


def _describe(case: Case, messages: list[MypyMessage]) -> str:
    got = "\n".join(f"  line {m.line}: {m.message}  [{m.code}]" for m in messages) or "  (none)"
    want = "\n".join(f"  line {e.line}: {e.message}  [{e.code}]" for e in case.expected) or "  (none)"
    return f"case {case.name} ({case.file}:{case.first_line}):\nexpected\n{want}\ngot\n{got}"


def test_corpus_size() -> None:
    cases = all_cases()
    wrong = [c for c in cases if not c.correct]
    correct = [c for c in cases if c.correct]
    assert len(wrong) >= MIN_WRONG, f"only {len(wrong)} wrong programs"
    assert len(correct) >= MIN_CORRECT, f"only {len(correct)} correct programs"


def test_repo_config_is_the_recommended_one() -> None:
    # The repo checks itself (examples, role programs) the way the docs tell users to.
    conf = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert conf["strict"] and conf["warn_unreachable"] and conf["allow_redefinition"]
    assert conf["local_partial_types"] and "possibly-undefined" in conf["enable_error_code"]
    docs = DOCS.read_text(encoding="utf-8")
    for line in ("warn_unreachable = true", "allow_redefinition = true", "local_partial_types = true",
                 'enable_error_code = ["possibly-undefined"]'):
        assert line in docs, line


def test_mypy_ran_cleanly() -> None:
    result, by_case = corpus_result()
    assert result.status in (0, 1), result.stderr
    assert not by_case.get("<outside>"), "errors outside the cases (generated code?):\n" + "\n".join(
        str(m) for m in by_case["<outside>"])


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_case(case: Case) -> None:
    if case.correct:
        assert "type: ignore" not in case.source, f"{case.name}: correct programs may not silence mypy"
    _, by_case = corpus_result()
    got = by_case[case.name]
    matched: set[int] = set()
    for exp in case.expected:
        hit = next(
            (k for k, m in enumerate(got)
             if k not in matched and m.line == exp.line and m.code == exp.code and exp.message in m.message),
            None,
        )
        assert hit is not None, f"missing expected error\n{_describe(case, got)}"
        matched.add(hit)
    extra = [m for k, m in enumerate(got) if k not in matched]
    assert not extra, f"unexpected errors\n{_describe(case, got)}"


if __name__ == "__main__":
    _, grouped = corpus_result()
    for c in all_cases():
        print(_describe(c, grouped[c.name]))
    sys.exit(0)
