"""Property: any text yields a protocol or diagnostics, never an exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codegen.core.diagnostics import render_all
from codegen.pipeline import compile_text

GOOD = sorted((Path(__file__).resolve().parents[2] / "tests" / "specs" / "good").glob("*.yaml"))
SOURCES = [p.read_text(encoding="utf-8") for p in GOOD]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    compiled = compile_text(text, "fuzz.yaml")
    assert compiled.ok or compiled.diagnostics
    render_all(compiled.diagnostics, {"fuzz.yaml": text})


@SETTINGS
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=300))
def test_random_text(text: str) -> None:
    check(text)


@SETTINGS
@given(st.text(alphabet="-:[]{}*&!|>'\" \n\tABab01.,#?_", max_size=200))
def test_yamlish_text(text: str) -> None:
    check(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SOURCES)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "swap", "tab", "colon", "dup", "char"]))
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "tab":
            lines[i] = "\t" + line
        elif op == "colon":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + ": " + line[j:]
        elif op == "swap" and len(line) > 1:
            j = draw(st.integers(0, len(line) - 2))
            lines[i] = line[:j] + line[j + 1] + line[j] + line[j + 2 :]
        elif op == "char":
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.sampled_from(list("[]{}*&!-:>'\"x0"))) + line[j:]
    return "\n".join(lines) + "\n"


@SETTINGS
@given(mutated())
def test_mutated_good_specs(text: str) -> None:
    check(text)
