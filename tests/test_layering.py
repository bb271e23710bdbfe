"""Import layering checked on the source: role programs stay above the crypto hazmat layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_example_imports_the_crypto_hazmat_layer() -> None:
    """As in pyca/cryptography, protocol code uses recipes (``keys.verify_vss_share``,
    ``encoding``, ...); the hazmat primitives stay behind them."""
    offenders = {
        str(p.relative_to(REPO)): sorted(m for m in imported_modules(p) if m.startswith("runtime.crypto.hazmat"))
        for p in sorted((REPO / "examples").rglob("*.py"))
    }
    assert {p: ms for p, ms in offenders.items() if ms} == {}


def test_generated_modules_use_the_runtime_only_through_genlib() -> None:
    """``runtime.genlib`` is the contract of generated code: its ``__all__`` is all a
    generated module may take from the runtime."""
    from runtime import genlib

    allowed = {"runtime", "runtime.genlib"} | {f"runtime.genlib.{n}" for n in genlib.__all__}
    modules = sorted((REPO / "generated").rglob("*.py"))
    assert len(modules) > 10
    offenders = {
        str(p.relative_to(REPO)): sorted(m for m in imported_modules(p)
                                         if m.split(".")[0] == "runtime" and m not in allowed)
        for p in modules
    }
    assert {p: ms for p, ms in offenders.items() if ms} == {}


def test_only_the_p2p_transport_imports_libp2p() -> None:
    """libp2p is the optional ``minuet[p2p]`` extra: ``runtime/p2p.py`` alone imports it,
    and the CLI imports that module only inside the ``--transport p2p`` branch."""
    heavy = ("libp2p", "multiaddr")
    importers = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "runtime").rglob("*.py")
        if any(m.split(".")[0] in heavy for m in imported_modules(p))
    )
    assert importers == ["runtime/p2p.py"]
    for path in sorted((REPO / "runtime").rglob("*.py")):
        top = ast.parse(path.read_text(encoding="utf-8")).body
        top_level = {n.module for n in top if isinstance(n, ast.ImportFrom)} | {
            a.name for n in top if isinstance(n, ast.Import) for a in n.names}
        if path.name != "p2p.py":
            assert "runtime.p2p" not in top_level, path


def test_the_base_runtime_loads_without_libp2p() -> None:
    code = ("import sys, runtime.cli, runtime.tcp, runtime.node, runtime.memory, runtime.keytool, "
            "codegen.cli; assert not [m for m in sys.modules if m.split('.')[0] in "
            "('libp2p', 'multiaddr') or m == 'runtime.p2p'], sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


# The compiler's stages in pipeline order: a module may import its own stage, ``core`` and
# earlier stages, never a later one (docs/architecture.md). The facade (pipeline, cli) is above all.
STAGES = ("core", "frontend", "projection", "backend", "analysis")


def test_compiler_stages_import_only_earlier_stages() -> None:
    offenders: dict[str, list[str]] = {}
    for p in sorted((REPO / "codegen").rglob("*.py")):
        parts = p.relative_to(REPO / "codegen").parts
        if len(parts) < 2:
            continue
        assert parts[0] in STAGES, f"codegen/{parts[0]}/ is not a stage in STAGES"
        rank = STAGES.index(parts[0])
        bad = sorted(
            m for m in imported_modules(p)
            if m.startswith("codegen.")
            and (m.split(".")[1] not in STAGES or STAGES.index(m.split(".")[1]) > rank)
        )
        if bad:
            offenders[str(p.relative_to(REPO))] = bad
    assert offenders == {}


def test_every_compiler_module_lives_in_a_stage() -> None:
    top = sorted(p.name for p in (REPO / "codegen").glob("*.py"))
    assert top == ["__init__.py", "cli.py", "generate.py", "pipeline.py"]
