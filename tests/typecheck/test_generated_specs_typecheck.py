"""Every good spec of the front-end corpus (tests/specs/good) generates a module that parses
with libcst, passes ``mypy --strict`` (one batched run) and ``ruff check``.

This covers spec shapes the bundled protocols do not (choices by a family member, decided
loops by a member, broadcasts, records, recursion, nested calls, ...).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

from codegen.backend.check import MypyResult, check_module, run_mypy
from codegen.backend.render import render_module
from codegen.pipeline import compile_text

REPO_ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((REPO_ROOT / "tests" / "specs" / "good").glob("*.yaml"))
PACKAGE = "tc_good_specs"


def render(path: Path) -> str:
    rel = path.relative_to(REPO_ROOT).as_posix()
    compiled = compile_text(path.read_text(encoding="utf-8"), rel)
    assert compiled.ok and compiled.protocol is not None, [d.headline() for d in compiled.errors]
    return render_module(compiled.protocol, compiled.locals, rel)


@cache
def checked() -> tuple[MypyResult, str, dict[str, str]]:
    """(mypy result, ruff output, module texts) for all good specs, each tool run once."""
    texts = {p.stem: render(p) for p in SPECS}
    with tempfile.TemporaryDirectory(prefix="minuet-good-specs-") as tmp:
        pkg = Path(tmp) / "src" / PACKAGE
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        files = []
        for stem, text in texts.items():
            f = pkg / f"{stem}.py"
            f.write_text(text, encoding="utf-8")
            files.append(f)
        result = run_mypy(files, cache_dir=Path(tmp) / "cache", search_path=(REPO_ROOT, Path(tmp) / "src"))
        ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
        ruff_out = ""
        if ruff is not None:
            proc = subprocess.run(
                [ruff, "check", "--no-cache", "--quiet", "--config", str(REPO_ROOT / "pyproject.toml"), str(pkg)],
                capture_output=True, text=True, check=False,
            )
            ruff_out = proc.stdout + proc.stderr if proc.returncode else ""
        else:
            ruff_out = "<ruff not found>"
    return result, ruff_out, texts


def test_there_are_good_specs() -> None:
    assert len(SPECS) >= 20


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_good_spec_module_parses_with_libcst(path: Path) -> None:
    _, _, texts = checked()
    assert check_module(texts[path.stem], path.name) == []


def test_good_spec_modules_pass_mypy_strict() -> None:
    result, _, _ = checked()
    assert result.status in (0, 1), result.stderr
    assert not result.errors, "\n".join(str(m) for m in result.errors[:30])


def test_good_spec_modules_pass_ruff() -> None:
    _, ruff_out, _ = checked()
    if ruff_out == "<ruff not found>":
        pytest.skip("ruff is not installed")
    assert ruff_out == ""
