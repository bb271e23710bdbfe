"""Streamed generation: the module is printed piece by piece, compared with the file on disk
piece by piece, and written through a temporary file (issue 15: memory on large specs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen.backend.render import TextSpool, module_text, render_model, render_module
from codegen.generate import same_text, write_atomic
from codegen.pipeline import compile_text

REPO = Path(__file__).resolve().parents[2]


def test_text_spool_gives_back_what_was_written() -> None:
    spool = TextSpool()
    # Several batches, and characters of 2 to 4 UTF-8 bytes, so pieces end inside a character.
    written = [f"line {i}: é → 𝄞 {'x' * (i % 97)}\n" for i in range(5000)]
    for w in written:
        spool.write(w)
    pieces = list(spool.chunks())
    assert len(pieces) > 1
    assert "".join(pieces) == "".join(written)
    assert "".join(spool.chunks()) == "".join(written)  # read again: the same


def test_text_spool_empty() -> None:
    spool = TextSpool()
    assert list(spool.chunks()) == []


def test_module_text_is_render_module_in_pieces() -> None:
    rel = "protocols/two_buyer.yaml"
    compiled = compile_text((REPO / rel).read_text(encoding="utf-8"), rel)
    assert compiled.protocol is not None
    model = render_model(compiled.protocol, compiled.locals, rel)
    pieces = list(module_text(model))
    assert len(pieces) > 10
    assert "".join(pieces) == "".join(module_text(model)) == render_module(compiled.protocol, compiled.locals, rel)
    assert "".join(pieces) == (REPO / "generated/examples/two_buyer.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(("on_disk", "same"), [
    ("abcdef", True), ("abcde", False), ("abcdefg", False), ("abXdef", False), ("", False),
])
def test_same_text_compares_piece_by_piece(tmp_path: Path, on_disk: str, same: bool) -> None:
    f = tmp_path / "m.py"
    f.write_text(on_disk, encoding="utf-8")
    assert same_text(f, ["ab", "", "cde", "f"]) is same


def test_same_text_of_a_missing_or_undecodable_file_is_false(tmp_path: Path) -> None:
    assert not same_text(tmp_path / "absent.py", ["x"])
    (tmp_path / "bad.py").write_bytes(b"ab\xff")
    assert not same_text(tmp_path / "bad.py", ["ab", "c"])


def test_write_atomic_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "pkg" / "m.py"
    write_atomic(target, ["one\n", "two\n"])
    assert target.read_text(encoding="utf-8") == "one\ntwo\n"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # as write_text would make it
    write_atomic(target, ["three\n"])
    assert target.read_text(encoding="utf-8") == "three\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["m.py"]


def test_write_atomic_stopped_halfway_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "m.py"
    target.write_text("old\n", encoding="utf-8")

    def failing() -> Iterator[str]:
        yield "new, half"
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        write_atomic(target, failing())
    assert target.read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.py"]  # no temporary file left
