"""Golden files: the full generated module of a few small specs, byte for byte.

A diff here is a change of the generated API or layout: review it, then rewrite the goldens
with ``MINUET_UPDATE_GOLDENS=1 pytest tests/codegen/test_codegen_golden.py``.
"""

from __future__ import annotations

import os

import pytest

from codegen.generate import REPO
from codegen.pipeline import compile_text
from codegen.render import render_module

GOLDEN_DIR = REPO / "tests" / "golden"
SPECS = {
    "ping_pong": "protocols/ping_pong.yaml",
    "two_buyer": "protocols/two_buyer.yaml",
    "counted": "protocols/examples/counted.yaml",
    "parallel": "protocols/examples/parallel.yaml",
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_golden(name: str) -> None:
    rel = SPECS[name]
    compiled = compile_text((REPO / rel).read_text(encoding="utf-8"), rel)
    assert compiled.ok and compiled.protocol is not None, compiled.diagnostics
    text = render_module(compiled.protocol, compiled.locals, rel)
    golden = GOLDEN_DIR / f"{name}.golden"
    if os.environ.get("MINUET_UPDATE_GOLDENS") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"missing {golden}: run with MINUET_UPDATE_GOLDENS=1"
    assert text == golden.read_text(encoding="utf-8"), f"{name}: output differs from {golden}"
