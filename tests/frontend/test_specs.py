"""Data-driven spec cases: every ``tests/specs/good/*.yaml`` compiles with no diagnostic;
every ``tests/specs/bad/*.yaml`` yields exactly the rendered diagnostics in its ``.expected``
golden; every ``tests/specs/warn/*.yaml`` compiles (and projects) with exactly the warnings
in its golden. ``MINUET_UPDATE_GOLDENS=1`` rewrites the goldens.

Each bad or warn case starts with ``# expect: Mnnn`` naming the rule it targets. Spans carry the path
relative to the repository root, whatever the working directory.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import yaml

from codegen.core.diagnostics import CODES, Diagnostic, render_all
from codegen.core.span import Span
from codegen.pipeline import Compiled, compile_text

ROOT = Path(__file__).resolve().parents[2]
GOOD = sorted((ROOT / "tests" / "specs" / "good").glob("*.yaml"))
BAD = sorted((ROOT / "tests" / "specs" / "bad").glob("*.yaml"))
WARN = sorted((ROOT / "tests" / "specs" / "warn").glob("*.yaml"))
UPDATE = os.environ.get("MINUET_UPDATE_GOLDENS") == "1"
_EXPECT = re.compile(r"#\s*expect:\s*((?:M\d{3}[ ,]*)+)")

# Codes no YAML file can produce (the loader already rejects the duplicate), or produced
# outside the compiler core; each has a unit test instead.
# M601-M604 come from the generator (codegen.backend.render/generate), tested in tests/codegen;
# M700-M704 from the linearity lint of Python code (codegen.analysis.lint), tested in tests/lint.
NOT_FROM_FILES = frozenset(
    {"M113", "M207", "M301", "M600", "M601", "M602", "M603", "M604", "M700", "M701", "M702", "M703", "M704"}
)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def compile_case(path: Path) -> Compiled:
    # Imports are read from the repository root, as the spans name them.
    return compile_text(path.read_text(encoding="utf-8"), rel(path), lambda p: (ROOT / p).read_text(encoding="utf-8"))


def rendered(compiled: Compiled, path: Path) -> str:
    return render_all(compiled.diagnostics, compiled.sources(rel(path))) + "\n"


def expected_codes(path: Path) -> set[str]:
    m = _EXPECT.search(path.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{rel(path)} must start with '# expect: Mnnn'"
    return set(re.findall(r"M\d{3}", m.group(1)))


def test_corpus_is_large_enough() -> None:
    assert len(GOOD) >= 60
    assert len(BAD) >= 60


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_spec(path: Path) -> None:
    compiled = compile_case(path)
    assert compiled.diagnostics == (), rendered(compiled, path)
    assert compiled.ok
    assert compiled.protocol is not None
    assert compiled.locals


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_spec(path: Path) -> None:
    codes = expected_codes(path)
    compiled = compile_case(path)
    text = rendered(compiled, path)
    golden = path.with_suffix(".expected")
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert not compiled.ok
    assert codes <= {d.code for d in compiled.diagnostics}, text
    assert golden.exists(), f"missing golden {rel(golden)}; run with MINUET_UPDATE_GOLDENS=1"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", WARN, ids=[p.stem for p in WARN])
def test_warn_spec(path: Path) -> None:
    codes = expected_codes(path)
    compiled = compile_case(path)
    text = rendered(compiled, path)
    golden = path.with_suffix(".expected")
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    assert compiled.ok, text
    assert compiled.locals
    assert {d.severity for d in compiled.diagnostics} == {"warning"}, text
    assert codes <= {d.code for d in compiled.diagnostics}, text
    assert golden.exists(), f"missing golden {rel(golden)}; run with MINUET_UPDATE_GOLDENS=1"
    assert text == golden.read_text(encoding="utf-8")


def test_every_code_has_a_bad_case() -> None:
    covered: set[str] = set()
    for path in (*BAD, *WARN):
        covered |= expected_codes(path)
    missing = set(CODES) - covered - NOT_FROM_FILES
    assert not missing, f"no bad case for {sorted(missing)}"


def test_goldens_have_cases() -> None:
    for kind in ("bad", "warn"):
        for golden in (ROOT / "tests" / "specs" / kind).glob("*.expected"):
            assert golden.with_suffix(".yaml").exists(), f"stale golden {rel(golden)}"


# ---------------------------------------------------------------- JSON Schema and docs

SCHEMA_PATH = ROOT / "codegen" / "spec.schema.json"
DOC_PATH = ROOT / "docs" / "spec-format.md"


def _schema_errors(value: object, schema: object, root: dict[str, object], where: str = "$") -> list[str]:
    """A tiny validator for the JSON Schema subset spec.schema.json uses (no dependency)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{where}: not allowed"]
    assert isinstance(schema, dict)
    if "$ref" in schema:
        target: object = root
        for part in str(schema["$ref"]).removeprefix("#/").split("/"):
            assert isinstance(target, dict)
            target = target[part]
        return _schema_errors(value, target, root, where)
    errors: list[str] = []
    kind = schema.get("type")
    checks = {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }
    if kind is not None and not checks[str(kind)]:
        return [f"{where}: expected {kind}, found {type(value).__name__}"]
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not _schema_errors(value, s, root, where)]
        if len(matches) != 1:
            errors.append(f"{where}: matches {len(matches)} of oneOf")
    if isinstance(value, str) and "pattern" in schema and not re.search(str(schema["pattern"]), value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below minimum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{where}: not above exclusiveMinimum")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += _schema_errors(item, schema["items"], root, f"{where}[{i}]")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{where}: missing {key}")
        if len(value) < schema.get("minProperties", 0) or len(value) > schema.get("maxProperties", 1 << 30):
            errors.append(f"{where}: wrong number of properties")
        props = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        for key, item in value.items():
            sub = f"{where}.{key}"
            if "propertyNames" in schema:
                errors += _schema_errors(str(key), schema["propertyNames"], root, sub)
            matched = False
            if key in props:
                matched = True
                errors += _schema_errors(item, props[key], root, sub)
            for pattern, pschema in patterns.items():
                if re.search(pattern, str(key)):
                    matched = True
                    errors += _schema_errors(item, pschema, root, sub)
            if not matched and "additionalProperties" in schema:
                errors += _schema_errors(item, schema["additionalProperties"], root, sub)
    return errors


def _schema() -> dict[str, object]:
    loaded = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_schema_is_draft_2020_12() -> None:
    assert _schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_spec_matches_schema(path: Path) -> None:
    schema = _schema()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _schema_errors(data, schema, schema) == []


@pytest.mark.parametrize(
    "data",
    [
        {"protocol": "P", "roles": ["A"], "messages": {}},
        {"protocol": "P", "roles": ["A"], "messages": {}, "interactions": [], "bogus": 1},
        {"protocol": "P", "roles": ["A"], "messages": {}, "interactions": [{"A -> B": "M", "B -> A": "M"}]},
        {"protocol": "P", "roles": ["A"], "messages": {}, "interactions": [{"A -> B": {"message": "M", "flow_cost": -1}}]},
        {"protocol": "P", "roles": ["A"], "messages": {}, "interactions": [{"loop": {"count": 1}}]},
    ],
)
def test_schema_rejects_bad_shapes(data: object) -> None:
    schema = _schema()
    assert _schema_errors(data, schema, schema)


def test_docs_list_every_code() -> None:
    doc = DOC_PATH.read_text(encoding="utf-8")
    missing = [c for c in CODES.values() if f"| {c} | `{c.name}` |" not in doc]
    assert not missing, f"docs/spec-format.md lacks rows for {[str(c) for c in missing]}"


def test_codes_are_named_constants_and_bare_strings_are_refused() -> None:
    import codegen.core.diagnostics as registry

    for code in CODES.values():
        assert getattr(registry, code.name.upper().replace("-", "_")) is code
    with pytest.raises(ValueError, match="not one of the registered Code constants"):
        Diagnostic("M303", Span("f.yaml", 1, 1), "a bare string is no code")  # type: ignore[arg-type]
