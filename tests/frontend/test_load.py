"""The YAML loader: exact spans, and every YAML pitfall is a diagnostic."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from codegen.core.diagnostics import YAML_SYNTAX, Diagnostic
from codegen.frontend.load import Mapping, Scalar, Sequence, load


def codes(text: str) -> list[str]:
    return [d.code for d in load(text, "f.yaml")[1]]


def test_spans_are_one_based_and_exact() -> None:
    root, diags = load("a: 1\nb: [x, 'y z']\n", "f.yaml")
    assert diags == []
    assert isinstance(root, Mapping)
    key, value = root.items[1]
    assert (key.span.line, key.span.col) == (2, 1)
    assert isinstance(value, Sequence)
    quoted = value.items[1]
    assert isinstance(quoted, Scalar)
    assert (quoted.span.line, quoted.span.col, quoted.span.end_col) == (2, 8, 13)
    # Columns inside a quoted scalar skip the opening quote.
    assert quoted.sub_span(2, 3).col == 11


def test_scalar_kinds() -> None:
    root, _ = load("a: 1\nb: 2.5\nc: true\nd: ~\ne: text\nf: '1'\n", "f.yaml")
    assert isinstance(root, Mapping)
    kinds = [v.kind for _, v in root.items if isinstance(v, Scalar)]
    assert kinds == ["int", "float", "bool", "null", "str", "str"]


def test_escapes_map_back_to_source_columns() -> None:
    root, _ = load('a: "x\\ty"\nb: \'it\'\'s\'\n', "f.yaml")
    assert isinstance(root, Mapping)
    dq, sq = (v for _, v in root.items)
    assert isinstance(dq, Scalar) and isinstance(sq, Scalar)
    assert dq.sub_span(2, 3).col == 8  # 'y' after the two-character escape
    assert sq.sub_span(3, 4).col == 9  # 's' after the doubled quote


def test_duplicate_key_is_reported_at_the_second() -> None:
    root, diags = load("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert [d.code for d in diags] == ["M102"]
    assert diags[0].span.line == 3
    assert isinstance(root, Mapping)
    assert [k.text for k, _ in root.items] == ["a", "b"]


def test_tabs_in_indentation() -> None:
    diags = load("a:\n\tb: 1\n  c:\t2\n", "f.yaml")[1]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("M101", 2, 1)]


def test_anchor_alias_and_tags() -> None:
    assert codes("a: &x 1\nb: *x\n") == ["M111", "M111"]
    assert codes("a: !!str 1\n") == ["M111"]
    assert codes("a: !custom 1\n") == ["M111"]


def test_python_tags_are_never_constructed() -> None:
    root, diags = load("a: !!python/object/apply:os.system ['echo hi']\n", "f.yaml")
    assert [d.code for d in diags] == ["M111"]
    assert isinstance(root, Mapping)


def test_syntax_error_position() -> None:
    _, diags = load("a: [1, 2\nb: 3\n", "f.yaml")
    assert [d.code for d in diags] == ["M100"]
    assert diags[0].span.line == 2


def test_empty_and_multi_document() -> None:
    assert codes("") == ["M112"]
    assert codes("# only a comment\n") == ["M112"]
    assert codes("a: 1\n---\nb: 2\n") == ["M100"]


def test_non_printable_and_deep_nesting() -> None:
    assert codes("a: \x07\n") == ["M100"]
    assert codes("[" * 500) == ["M100"]


def test_complex_key_is_an_error() -> None:
    assert codes("? [a, b]\n: 1\n") == ["M104"]


def test_plain_scalar_sub_spans_follow_the_source_columns() -> None:
    root, _ = load("k:   A -> B\n", "f.yaml")
    assert isinstance(root, Mapping)
    (_, value), = root.items
    assert isinstance(value, Scalar) and value.contiguous
    assert tuple(value.sub_span(5, 6)) == ("f.yaml", 1, 11, 1, 12)  # 'B'
    assert value.sub_span(2, 2)[2:] == (8, 1, 9)  # an empty sub-span still covers one column
    assert value.sub_span(0, 99).end_col == 12  # clipped at the end of the scalar
    assert value.sub_span(99, 100) == value.span  # outside the text: the whole scalar


def test_multi_line_scalars_fall_back_to_the_whole_span() -> None:
    root, _ = load("k: one\n  two\n", "f.yaml")
    assert isinstance(root, Mapping)
    (_, value), = root.items
    assert isinstance(value, Scalar) and value.text == "one two"
    assert value.sub_span(4, 7) == value.span


def test_collection_spans() -> None:
    root, _ = load("a:\n  - x\n  - {b: 1}\n", "f.yaml")
    assert isinstance(root, Mapping)
    assert (root.span.line, root.span.col) == (1, 1)
    seq = root.get("a")
    assert isinstance(seq, Sequence) and (seq.span.line, seq.span.col) == (2, 3)
    inner = seq.items[1]
    assert isinstance(inner, Mapping) and tuple(inner.span)[1:] == (3, 5, 3, 11)


def test_every_duplicate_is_reported_against_the_first() -> None:
    text = "".join(f"k{i}: {i}\n" for i in range(50)) + "k7: x\nk7: y\nk49: z\n"
    root, diags = load(text, "f.yaml")
    assert [(d.code, d.span.line, d.hint.split(";")[0]) for d in diags] == [
        ("M102", 51, "first given on line 8"),
        ("M102", 52, "first given on line 8"),
        ("M102", 53, "first given on line 50"),
    ]
    assert isinstance(root, Mapping) and len(root.items) == 50
    assert root.get("k7") is not None and root.get("k7") == root.items[7][1]


def test_imports_are_read_through_the_given_reader() -> None:
    """Imports are resolved against the importer's directory and read by the caller's
    reader: no file system needed; imported sources come back for rendering."""
    from codegen.pipeline import compile_text

    files = {
        "lib/base.yaml": "protocol: Base\nroles: [X, Y]\nmessages: {Hi: {}}\ninteractions:\n  - X -> Y: Hi\n",
        "lib/bad.yaml": "protocol: Bad\nroles: [X, Y]\nmessages: {Hi: {}}\ninteractions:\n  - X -> Y: Ho\n",
    }

    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(2, "No such file or directory")
        return files[path]

    ok = compile_text(
        "protocol: P\nimports: [../lib/base.yaml]\nroles: [A, B]\nmessages: {}\n"
        "interactions:\n  - call Base(A, B)\n",
        "specs/p.yaml",
        read,
    )
    assert ok.ok, ok.diagnostics
    assert type(ok.locals["A"].body[0]).__name__ == "LSend"
    bad = compile_text(
        "protocol: P\nimports: [../lib/bad.yaml]\nroles: [A, B]\nmessages: {Hi: {}}\n"
        "interactions:\n  - A -> B: Hi\n",
        "specs/p.yaml",
        read,
    )
    assert {d.code for d in bad.diagnostics} >= {"M203", "M508"}
    assert set(bad.sources("specs/p.yaml")) == {"specs/p.yaml", "lib/bad.yaml"}


def test_the_pure_python_parser_gives_the_same_trees_and_diagnostics(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml drives the loader when installed; PyYAML's own parser is the fallback. Both
    give every spec case (good and bad) the same node tree and the same diagnostics, but for
    the wording of YAML syntax errors, which is each parser's own."""
    from codegen.frontend import load as load_module

    def same(result: tuple[object, list[Diagnostic]]) -> tuple[object, list[Diagnostic]]:
        tree, diags = result
        return tree, [d if d.code != YAML_SYNTAX else dataclasses.replace(d, message="") for d in diags]

    specs = sorted((Path(__file__).resolve().parents[1] / "specs").rglob("*.yaml"))
    assert len(specs) > 100
    texts = [(p.read_text(encoding="utf-8"), p.name) for p in specs]
    texts += [("a: 1\na: 2\n", "dup.yaml"), ("a: &x 1\nb: *x\n", "alias.yaml"), ("a: 1\n---\nb: 2\n", "docs.yaml"),
              ("? [k]\n: v\n", "key.yaml"), ("a: [1, 2\n", "syntax.yaml"), ("", "empty.yaml")]
    with_c = [same(load(text, name)) for text, name in texts]
    monkeypatch.setattr(load_module, "_EVENT_LOADER", yaml.SafeLoader)
    assert [same(load(text, name)) for text, name in texts] == with_c
