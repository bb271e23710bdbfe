"""Minuet as a user gets it: the wheel, installed into a fresh virtual environment outside
this checkout, used in a new project in a temporary folder.

The project is the README's "Use Minuet in your project" section, read from the README
itself (its files and its commands, run as written), so the section stays true. On top of
what the README shows, the test checks: a user file in ``generated/`` survives generation;
nothing is written into site-packages; ``generate --check`` is clean from another working
directory; ``mypy --strict`` (the lowest version the ``mypy`` extra allows) reports an
out-of-order send as ``[attr-defined]`` at its line; the bundled protocols import under
``minuet_protocols`` beside the user's own ``generated`` package.

Speed: dependencies are installed offline from a wheel cache in ``.venv/e2e-wheels`` (filled
once by ``pip download`` of the versions this checkout's venv has), the wheel is built without
an isolated build environment, and nothing is byte-compiled at install.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WHEELHOUSE = REPO / ".venv" / "e2e-wheels"
SOURCES = ("codegen", "runtime", "generated", "examples", "setup.py", "pyproject.toml", "README.md", "LICENSE")
SECTION = "## Use Minuet in your project"


@dataclass(frozen=True)
class Readme:
    files: dict[str, str]  # path in the user's project -> text
    install: list[str]  # the requirement arguments of `pip install`
    commands: list[list[str]]  # every other shell command, in order


def readme() -> Readme:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    install: list[str] = []
    commands: list[list[str]] = []
    for lang, body in re.findall(r"```(\w+)\n(.*?)```", section, re.DOTALL):
        first, _, rest = body.partition("\n")
        if lang == "sh":
            for line in body.splitlines():
                argv = shlex.split(line)
                if argv[:2] == ["pip", "install"]:
                    install += argv[2:]
                elif argv:
                    commands.append(argv)
        elif first.startswith("# ") and "(in your project)" not in first:
            files[first[2:].strip()] = rest
    return Readme(files, install, commands)


def lowest_mypy() -> str:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    (spec,) = extra["mypy"]
    m = re.search(r">=\s*([\w.]+)", spec)
    assert m, spec
    return m.group(1)


def sh(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def wheelhouse(requirements: list[str]) -> Path:
    """Wheels of the dependencies, downloaded once (pip's own cache and index settings)."""
    stamp = WHEELHOUSE / "requirements.txt"
    wanted = "\n".join(sorted(requirements)) + "\n"
    if not stamp.is_file() or stamp.read_text(encoding="utf-8") != wanted:
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        done = sh([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(WHEELHOUSE),
                   *requirements], REPO)
        assert done.returncode == 0, done.stderr
        stamp.write_text(wanted, encoding="utf-8")
    return WHEELHOUSE


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime; byte-code caches aside."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Readme]]:
    doc = readme()
    base = tmp_path_factory.mktemp("installed")
    src = base / "src"
    src.mkdir()
    for name in SOURCES:
        (shutil.copytree if (REPO / name).is_dir() else shutil.copy2)(REPO / name, src / name)
    dist = base / "dist"
    done = sh([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
               "-w", str(dist), str(src)], base)
    assert done.returncode == 0, done.stderr
    deps = ["trio", "cryptography", "pynacl", "PyYAML", "libcst"]
    house = wheelhouse([f"{d}=={metadata.version(d)}" for d in deps] + [f"mypy=={lowest_mypy()}"])
    venv = base / "venv"
    done = sh([sys.executable, "-m", "venv", "--without-pip", str(venv)], base)
    assert done.returncode == 0, done.stderr
    done = sh([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
               "--no-compile", "--no-index", "--find-links", str(house), "--find-links", str(dist),
               *doc.install], base)
    assert done.returncode == 0, done.stderr
    yield venv, doc


def test_readme_project_end_to_end(installed: tuple[Path, Readme], tmp_path: Path) -> None:
    venv, doc = installed
    assert doc.install == ["minuet[compiler,mypy]"]
    assert set(doc.files) == {"protocols/shop.yaml", "pyproject.toml", "roles.py"}
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv)}
    for var in ("PYTHONPATH", "PYTHONHOME", "MYPYPATH"):
        env.pop(var, None)
    proj = tmp_path / "shop"
    for name, text in doc.files.items():
        (proj / name).parent.mkdir(parents=True, exist_ok=True)
        (proj / name).write_text(text, encoding="utf-8")
    (proj / "generated").mkdir()
    (proj / "generated" / "notes.py").write_text("NOTE = 'mine'\n", encoding="utf-8")
    (site,) = (venv / "lib").glob("python*/site-packages")
    # Typed packages, and no top-level `generated` of Minuet's own to collide with the user's.
    for top in ("codegen", "runtime", "minuet_protocols"):
        assert (site / top / "py.typed").is_file(), top
    assert not (site / "generated").exists() and not (site / "examples").exists()
    before = snapshot(site)

    assert sh(["mypy", "--version"], proj, env).stdout.startswith(f"mypy {lowest_mypy()} ")
    outputs = []
    for argv in doc.commands:
        done = sh(argv, proj, env)
        assert done.returncode == 0, f"{shlex.join(argv)}:\n{done.stdout}{done.stderr}"
        outputs.append(done.stdout)
        if argv[:2] == ["minuet", "generate"]:
            module = proj / "generated" / "shop.py"
            assert module.read_text(encoding="utf-8").startswith("# Generated by Minuet from protocols/shop.yaml ")
            assert (proj / "generated" / "notes.py").read_text(encoding="utf-8") == "NOTE = 'mine'\n"
    # The last command is `minuet run --memory`: every role reached End.
    assert outputs[-1].splitlines() == ['{"role": "Customer", "result": 103}', '{"role": "Clerk", "result": "tea"}']

    # An out-of-order send is a mypy --strict error at its line.
    bad = doc.files["roles.py"].replace(
        '    s1 = await s.send_order(Order(item="tea"))',
        '    s1 = await s.send_pay(Pay(amount=1))')
    (proj / "bad.py").write_text(bad, encoding="utf-8")
    line = bad.splitlines().index("    s1 = await s.send_pay(Pay(amount=1))") + 1
    done = sh(["mypy", "bad.py"], proj, env)
    assert done.returncode == 1
    assert f'bad.py:{line}: error: "Customer_S0" has no attribute "send_pay"  [attr-defined]' in done.stdout

    # Same verdict from another working directory.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = sh(["minuet", "generate", "--check", "--specs", str(proj / "protocols"), "--out", str(proj / "generated")],
              elsewhere, env)
    assert done.returncode == 0, done.stdout + done.stderr

    # The bundled protocols, beside (not shadowed by) the user's own generated package.
    probe = ("import generated, minuet_protocols.generated.threshold.frost_sign as f, "
             "minuet_protocols.examples.frost_signing as e; print(generated.__file__, f.PROTOCOL.name)")
    done = sh([str(venv / "bin" / "python"), "-c", probe], proj, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(proj / "generated" / "__init__.py"), "FrostSign"]
    done = sh([str(venv / "bin" / "python"), "-m", "minuet_protocols.examples.frost_signing"], proj, env)
    assert done.returncode == 0 and "2-of-3 FROST signature" in done.stdout, done.stderr

    after = snapshot(site)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:5]
