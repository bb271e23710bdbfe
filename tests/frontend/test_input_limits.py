"""Hostile spec inputs: every command reads specs the same way and reports what it cannot
read; nesting beyond the documented depth and oversized specs are located diagnostics; and
big inputs stay linear (diagnostics show a window of a long line, split the source once)."""

from __future__ import annotations

from pathlib import Path

from codegen.core.diagnostics import YAML_SYNTAX, Diagnostic, render, render_all
from codegen.core.span import Span
from codegen.core.typeexpr import MAX_TYPE_DEPTH
from codegen.frontend.load import MAX_DEPTH, MAX_SPEC_BYTES, load, read_spec
from codegen.generate import generate_all
from codegen.pipeline import compile_file, compile_text

PING = (Path(__file__).resolve().parents[2] / "protocols" / "ping_pong.yaml").read_text(encoding="utf-8")


def test_generate_reports_a_non_utf8_spec_as_check_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"protocol: X\n\xff\xfe\n")
    out = generate_all([bad], tmp_path)
    checked = compile_file(bad)
    assert [d.code for d in checked.diagnostics] == ["M113"]
    assert len(out.errors) == 1 and "M113" in out.errors[0] and "utf-8" in out.errors[0]
    assert not [f for f in out.files if f != "__init__.py"]


def test_oversized_spec_is_a_diagnostic(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (MAX_SPEC_BYTES + 1))
    _, diag = read_spec(big, "big.yaml")
    assert diag is not None and diag.code == "M113" and "larger than" in diag.message
    root, diags = load("#" * (MAX_SPEC_BYTES + 1), "big.yaml")
    assert root is None and [d.code for d in diags] == ["M113"]


def test_deep_flow_nesting_is_a_located_diagnostic() -> None:
    for n in (MAX_DEPTH + 2, 900, 20000):
        text = PING + "extra: " + "[" * n + "]" * n + "\n"
        diags = compile_text(text, "deep.yaml").diagnostics
        assert [d.code for d in diags] == ["M100"]
        assert diags[0].span.line == PING.count("\n") + 1 and diags[0].span.col > 1


def test_deep_type_nesting_is_a_located_diagnostic() -> None:
    deep = "list[" * 5000 + "int" + "]" * 5000
    text = PING.replace("Ping: {seq: int}", f"Ping: {{seq: '{deep}'}}")
    diags = compile_text(text, "deep.yaml").diagnostics
    assert [d.code for d in diags] == ["M107"]
    assert f"more than {MAX_TYPE_DEPTH} levels" in diags[0].message
    ok = "list[" * MAX_TYPE_DEPTH + "int" + "]" * MAX_TYPE_DEPTH
    assert not [d for d in compile_text(PING.replace("Ping: {seq: int}", f"Ping: {{seq: '{ok}'}}"),
                                         "ok.yaml").diagnostics if d.severity == "error"]


def test_a_long_line_is_shown_as_a_window_around_the_caret() -> None:
    line = "x" * 100_000 + "BAD" + "y" * 100_000
    d = Diagnostic(YAML_SYNTAX, Span("f.yaml", 1, 100_001, 1, 100_004), "bad here")
    shown = render(d, line).splitlines()
    assert len(shown[1]) < 260 and "BAD" in shown[1]
    assert shown[2].index("^") - shown[2].index("|") == shown[1].index("BAD") - shown[1].index("|")
    assert shown[2].count("^") == 3
    # Short lines are shown whole, as before.
    short = render(Diagnostic(YAML_SYNTAX, Span("f.yaml", 1, 3, 1, 5), "m"), "abcdef").splitlines()
    assert short[1].endswith("| abcdef") and short[2].endswith("|   ^^")


def test_many_diagnostics_on_one_long_line_render_in_linear_size() -> None:
    msgs = ", ".join(f"M{i}: {{seq: int}}" for i in range(2000))
    text = PING.replace("messages:\n  Ping: {seq: int}\n  Pong: {seq: int}\n",
                        "messages: {Ping: {seq: int}, Pong: {seq: int}, " + msgs + "}\n")
    diags = compile_text(text, "one.yaml").diagnostics
    assert len(diags) >= 2000
    out = render_all(diags, {"one.yaml": text})
    assert len(out) < 600 * len(diags)  # a window per diagnostic, never the 40 kB line
