"""The ``minuet`` command as a user meets it: exit statuses (0 clean, 1 findings, 2 usage or
I/O), output formats, the rules of what ``generate`` may write or remove, ``run --memory``,
``keys``, and the layering that keeps the runtime free of the compiler."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from codegen.backend.headers import PACKAGE_MARKER
from codegen.cli import COMMANDS, main

REPO = Path(__file__).resolve().parent.parent
TWO_BUYER = REPO / "protocols" / "two_buyer.yaml"

SPEC = """protocol: Tiny
roles: [A, B]
messages:
  Hi: {n: int}
interactions:
  - A -> B: Hi
"""
BAD = SPEC.replace("A -> B: Hi", "A -> C: Hi")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def project(tmp_path: Path, specs: dict[str, str], folder: str = "protocols") -> Path:
    """A user project: a pyproject.toml and specs under ``folder``."""
    root = tmp_path / "proj"
    (root / folder).mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "proj"\nversion = "0"\n', encoding="utf-8")
    for name, text in specs.items():
        (root / folder / name).write_text(text, encoding="utf-8")
    return root


# ---------------------------------------------------------------- version, usage


def test_version_and_usage_errors_exit_0_and_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("--version")[0] == 0
    assert capsys.readouterr().out.startswith("minuet ")
    assert run()[0] == 2
    assert run("no-such-command")[0] == 2
    assert run("check", "--no-such-flag")[0] == 2
    assert run("run", "--memory", "--entry", "nonsense")[0] == 2


def test_every_subcommand_is_in_the_table() -> None:
    names = [c.name for c in COMMANDS]
    assert len(names) == len(set(names))
    assert {"check", "generate", "lint", "project", "graph", "run", "trace", "schema"} <= set(names)


# ---------------------------------------------------------------- check


def test_check_accepts_folders_and_files(tmp_path: Path) -> None:
    root = project(tmp_path, {"a.yaml": SPEC})
    (root / "protocols" / "sub").mkdir()
    (root / "protocols" / "sub" / "b.yaml").write_text(SPEC.replace("Tiny", "Tiny2"), encoding="utf-8")
    code, out, _ = run("check", str(root / "protocols"))
    assert code == 0 and out.count("ok: ") == 2
    code, out, _ = run("check", str(root / "protocols" / "a.yaml"))
    assert code == 0 and out.count("ok: ") == 1
    # `.yml` counts; environments and hidden folders are not searched.
    (root / "protocols" / "c.yml").write_text(SPEC.replace("Tiny", "Tiny3"), encoding="utf-8")
    (root / ".venv").mkdir()
    (root / ".venv" / "x.yaml").write_text("not: a spec\n", encoding="utf-8")
    code, out, _ = run("check", str(root))
    assert code == 0 and out.count("ok: ") == 3


def test_check_statuses_and_text_format(tmp_path: Path) -> None:
    root = project(tmp_path, {"bad.yaml": BAD})
    code, _, err = run("check", str(root / "protocols" / "bad.yaml"))
    assert code == 1
    assert ":6:10: error: undefined role C  [M200 undefined-role]" in err
    assert run("check", str(root / "missing.yaml"))[0] == 2


def test_check_defaults_to_the_projects_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, {"a.yaml": SPEC})
    monkeypatch.chdir(root)
    code, out, _ = run("check")
    assert code == 0 and "ok: " in out


def test_check_json_and_github_formats(tmp_path: Path) -> None:
    root = project(tmp_path, {"bad.yaml": BAD})
    bad = str(root / "protocols" / "bad.yaml")
    code, out, _ = run("check", "--format", "json", bad)
    doc = json.loads(out)
    assert code == 1 and doc["errors"] == len(doc["diagnostics"]) >= 1
    (d,) = [d for d in doc["diagnostics"] if d["code"] == "M200"]
    assert (d["file"], d["line"], d["column"], d["code"], d["name"]) == (bad, 6, 10, "M200", "undefined-role")
    assert d["hint"]
    code, out, _ = run("check", "--format", "github", bad)
    assert code == 1
    assert f"::error file={bad},line=6,col=10," in out
    assert "title=M200 undefined-role::undefined role C" in out
    code, out, _ = run("check", "--format", "json", str(root / "protocols"))
    assert code == 1


def test_file_level_problems_point_at_1_1(tmp_path: Path) -> None:
    root = project(tmp_path, {})
    spec = root / "protocols" / "latin1.yaml"
    spec.write_bytes("protocol: Caf\xe9\n".encode("latin-1"))
    code, _, err = run("check", str(spec))
    # A file that cannot be read is an I/O error (2), still reported at its first position.
    assert code == 2 and f"{spec}:1:1: error: " in err and "[M113 unreadable-file]" in err
    assert run("generate", str(spec), "--out", str(root / "generated"))[0] == 2
    assert run("graph", str(spec))[0] == 2
    assert run("project", str(root / "protocols"))[0] == 2
    (root / "protocols" / "empty.yaml").write_text("", encoding="utf-8")
    code, out, _ = run("check", "--format", "json", str(root / "protocols" / "empty.yaml"))
    (d,) = json.loads(out)["diagnostics"]
    assert (d["line"], d["column"]) >= (1, 1)


# ---------------------------------------------------------------- lint


def test_lint_statuses_and_formats(tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("x = 1\n", encoding="utf-8")
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n", encoding="utf-8")
    assert run("lint", str(good))[0] == 0
    assert run("lint", str(tmp_path / "nope.py"))[0] == 2
    code, out, _ = run("lint", "--format", "json", str(broken))
    assert code == 1 and json.loads(out)["diagnostics"][0]["name"] == "lint-unreadable"
    code, out, _ = run("lint", "--format", "github", str(tmp_path))
    assert code == 1 and out.startswith("::error file=") and "M703 lint-unreadable" in out


# ---------------------------------------------------------------- graph, project, schema


def test_graph_and_project_statuses(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    assert run("trace", str(trace))[0] == 2
    assert run("graph", str(TWO_BUYER), "--role", "Nobody")[0] == 2
    assert run("project", str(tmp_path / "missing.yaml"))[0] == 2
    root = project(tmp_path, {"bad.yaml": BAD})
    assert run("graph", str(root / "protocols" / "bad.yaml"))[0] == 1
    code, out, _ = run("schema")
    assert code == 0 and json.loads(out)["$id"] == "https://minuet-sessions.github.io/schema/spec-v1.json"


# ---------------------------------------------------------------- generate: where and what


def gen(*argv: str) -> tuple[int, str, str]:
    return run("generate", *argv)


def test_generate_defaults_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    monkeypatch.chdir(root)
    code, _, err = gen()
    assert code == 0, err
    module = root / "generated" / "tiny.py"
    assert module.read_text(encoding="utf-8").startswith(
        "# Generated by Minuet from protocols/tiny.yaml (protocol Tiny).\n"
        "# Do not edit: change the spec and run `minuet generate`.\n")
    assert (root / "generated" / "__init__.py").read_text(encoding="utf-8") == PACKAGE_MARKER
    # From a subfolder the project root is the same: same output, nothing to do.
    (root / "sub").mkdir()
    monkeypatch.chdir(root / "sub")
    assert gen("--check") == (0, "generate --check: 1 module up to date\n", "")


def test_generate_reads_tool_minuet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC}, folder="specs")
    with (root / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('\n[tool.minuet]\nspecs = "specs"\nout = "src/gen"\n')
    monkeypatch.chdir(root)
    assert gen()[0] == 0
    assert (root / "src" / "gen" / "tiny.py").is_file()
    with (root / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('color = "blue"\n')
    code, _, err = gen()
    assert code == 2 and "unknown key 'color' in [tool.minuet]" in err


def test_package_root_serves_generate_and_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A src layout: generated into src/tinyapp/gen, imported from src by `minuet run`."""
    root = project(tmp_path, {"tiny.yaml": SPEC})
    with (root / "pyproject.toml").open("a", encoding="utf-8") as f:
        f.write('\n[tool.minuet]\nout = "src/tinyapp/gen"\npackage-root = "src"\n')
    (root / "src" / "tinyapp").mkdir(parents=True)
    (root / "src" / "tinyapp" / "__init__.py").write_text("", encoding="utf-8")
    (root / "src" / "tinyapp" / "roles.py").write_text(
        "from tinyapp.gen.tiny import A_S0, B_S0, Hi\n\n\n"
        "async def a(s: A_S0) -> int:\n    await s.send_hi(Hi(n=7))\n    return 0\n\n\n"
        "async def b(s: B_S0) -> int:\n    hi, _ = await s.recv_hi()\n    return hi.n\n", encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "path", list(sys.path))
    code, out, err = gen()
    assert code == 0 and "import them as tinyapp.gen.<module>" in out, err
    code, out, err = run("run", "--memory", "--protocol", "tinyapp.gen.tiny",
                         "--entry", "A=tinyapp.roles:a", "--entry", "B=tinyapp.roles:b")
    assert code == 0, err
    assert out.splitlines() == ['{"role": "A", "result": 0}', '{"role": "B", "result": 7}']


def test_generate_accepts_a_spec_file(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC, "other.yaml": SPEC.replace("Tiny", "Other")})
    code, _, err = gen(str(root / "protocols" / "tiny.yaml"), "--out", str(root / "generated"))
    assert code == 0, err
    assert sorted(p.name for p in (root / "generated").iterdir()) == ["__init__.py", "tiny.py"]


LIBRARY = """protocol: Lib
messages:
  Hi: {n: int}
subprotocols:
  Greet:
    roles: [X, Y]
    interactions:
      - X -> Y: Hi
"""
USES_LIBRARY = """protocol: User
imports: [lib.yaml]
roles: [A, B]
messages: {}
interactions:
  - call Greet(A, B)
"""


def test_a_library_checks_and_generates_no_module(tmp_path: Path) -> None:
    root = project(tmp_path, {"lib.yaml": LIBRARY, "user.yaml": USES_LIBRARY})
    code, out, err = run("check", str(root / "protocols" / "lib.yaml"))
    assert code == 0, err
    assert out.strip().endswith("lib.yaml (a library of 1 sub-protocol: no module)")
    code, out, err = gen("--specs", str(root / "protocols"), "--out", str(root / "generated"))
    assert code == 0, err
    assert sorted(p.name for p in (root / "generated").iterdir()) == ["__init__.py", "user.py"]
    assert "1 library of sub-protocols (protocols/lib.yaml) makes no module" in out
    assert "send_hi" in (root / "generated" / "user.py").read_text(encoding="utf-8")


def test_headers_are_project_relative_and_check_agrees_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    args = ("--specs", str(root / "protocols"), "--out", str(root / "generated"))
    assert gen(*args)[0] == 0
    text = (root / "generated" / "tiny.py").read_text(encoding="utf-8")
    assert str(tmp_path) not in text and "make generate" not in text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert gen("--check", *args)[0] == 0
    monkeypatch.chdir(root)
    assert gen("--check")[0] == 0


def test_generate_check_formats(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    args = ("--specs", str(root / "protocols"), "--out", str(root / "generated"))
    code, out, _ = gen("--check", *args)
    assert code == 1 and "+++ b/generated/tiny.py" in out
    code, out, _ = gen("--check", "--format", "json", *args)
    names = {(d["code"], d["name"]) for d in json.loads(out)["diagnostics"]}
    assert code == 1 and names == {("M604", "stale-output")}
    code, out, _ = gen("--check", "--format", "github", *args)
    assert code == 1 and all(line.startswith("::error file=") for line in out.splitlines())
    assert gen(*args)[0] == 0
    assert gen("--check", "--format", "json", *args) == (0, json.dumps(
        {"diagnostics": [], "errors": 0, "warnings": 0}, indent=2) + "\n", "")
    (root / "protocols" / "tiny.yaml").write_text(BAD, encoding="utf-8")
    code, out, _ = gen("--check", "--format", "github", *args)
    assert code == 1 and "M200 undefined-role" in out


def test_generate_statuses(tmp_path: Path) -> None:
    root = project(tmp_path, {"bad.yaml": BAD})
    code, _, err = gen("--specs", str(root / "protocols"), "--out", str(root / "generated"))
    assert code == 1 and "nothing written" in err and not (root / "generated").exists()
    assert gen("--specs", str(root / "nope"))[0] == 2
    assert gen("--bogus")[0] == 2
    (root / "protocols" / "bad.yaml").write_text(SPEC, encoding="utf-8")
    (root / "a-file").write_text("", encoding="utf-8")
    code, _, err = gen("--specs", str(root / "protocols"), "--out", str(root / "a-file"))
    assert code == 2 and "Traceback" not in err


# ---------------------------------------------------------------- generate: never touch what is not ours


def test_user_files_survive_and_are_never_overwritten(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    out = root / "generated"
    out.mkdir()
    user_init = '"""My generated package."""\n'
    (out / "__init__.py").write_text(user_init, encoding="utf-8")
    (out / "notes.py").write_text("NOTE = 1\n", encoding="utf-8")
    args = ("--specs", str(root / "protocols"), "--out", str(out))
    assert gen(*args)[0] == 0
    assert (out / "__init__.py").read_text(encoding="utf-8") == user_init  # no marker over it
    assert (out / "notes.py").read_text(encoding="utf-8") == "NOTE = 1\n"
    # A user module where a spec's module would go: refused, untouched.
    (out / "tiny.py").write_text("MINE = 1\n", encoding="utf-8")
    code, _, err = gen(*args)
    assert code == 1 and "[M603 foreign-file]" in err
    assert (out / "tiny.py").read_text(encoding="utf-8") == "MINE = 1\n"


def test_removes_only_its_own_modules_of_the_same_specs(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    (root / "more").mkdir()
    (root / "more" / "other.yaml").write_text(SPEC.replace("Tiny", "Other"), encoding="utf-8")
    out = root / "generated"
    first = ("--specs", str(root / "protocols"), "--out", str(out))
    second = ("--specs", str(root / "more"), "--out", str(out))
    assert gen(*first)[0] == 0 and gen(*second)[0] == 0
    assert gen(*first)[0] == 0  # the first root does not remove the second's module
    assert (out / "tiny.py").is_file() and (out / "other.py").is_file()
    assert gen("--check", *first)[0] == 0 and gen("--check", *second)[0] == 0
    # A spec removed: its module goes; the other root's stays.
    (root / "protocols" / "tiny.yaml").unlink()
    code, out_text, _ = gen(*first)
    assert code == 0 and "1 removed" in out_text
    assert not (out / "tiny.py").exists() and (out / "other.py").is_file()


def test_a_namespace_package_emptied_by_a_removed_spec_goes(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC.replace("protocol: Tiny", "protocol: Tiny\nnamespace: pkg.tiny")})
    args = ("--specs", str(root / "protocols"), "--out", str(root / "generated"))
    assert gen(*args)[0] == 0 and (root / "generated" / "pkg" / "__init__.py").is_file()
    (root / "protocols" / "tiny.yaml").unlink()
    assert gen(*args)[0] == 0
    assert not (root / "generated" / "pkg").exists()


def test_never_writes_into_an_environment(tmp_path: Path) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    site = root / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    for out in (site / "generated", root / ".venv" / "gen", Path(sys.prefix) / "generated"):
        code, _, err = gen("--specs", str(root / "protocols"), "--out", str(out))
        assert code == 2 and "refusing to write" in err
        assert not out.exists()


def test_out_dot_leaves_an_environment_inside_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, {"tiny.yaml": SPEC})
    installed = root / ".venv" / "lib" / "site-packages" / "generated"
    installed.mkdir(parents=True)
    (root / ".venv" / "pyvenv.cfg").write_text("", encoding="utf-8")
    # A module installed by another Minuet project, with a header naming the same spec path.
    foreign = "# Generated by Minuet from protocols/gone.yaml (protocol Gone).\n"
    (installed / "gone.py").write_text(foreign, encoding="utf-8")
    monkeypatch.chdir(root)
    assert gen("--out", ".")[0] == 0
    assert (root / "tiny.py").is_file()
    assert (installed / "gone.py").read_text(encoding="utf-8") == foreign


# ---------------------------------------------------------------- run --memory, keys


R = "tests.runtime.roles.two_buyer"
MEMORY = ("run", "--memory", "--protocol", "generated.examples.two_buyer",
          "--entry", f"Buyer1={R}:buyer1", "--entry", f"Buyer2={R}:buyer2", "--entry", f"Seller={R}:seller")


def test_run_memory_runs_every_role_to_the_end(tmp_path: Path) -> None:
    trace, metrics = tmp_path / "t.jsonl", tmp_path / "m.json"
    code, out, err = run(*MEMORY, "--trace", str(trace), "--metrics", str(metrics))
    assert code == 0, err
    results = {d["role"]: d["result"] for d in map(json.loads, out.splitlines())}
    assert results == {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}
    assert len(trace.read_text(encoding="utf-8").splitlines()) >= 5
    assert "Buyer1" in json.loads(metrics.read_text(encoding="utf-8"))["roles"]


def test_run_memory_with_a_fault_names_the_failure(tmp_path: Path) -> None:
    code, _, err = run(*MEMORY, "--fault", "crash,role=Seller,after=1")
    assert code == 1 and "Seller: InjectedCrash" in err
    assert run(*MEMORY, "--fault", "explode")[0] == 2
    assert run(*MEMORY, "--fault", "drop,nth=x")[0] == 2


def test_run_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run("run", "--memory", "--protocol", "generated.examples.two_buyer",
                       "--entry", f"Buyer1={R}:buyer1")
    assert code == 2 and "no --entry for role Buyer2" in err
    code, _, err = run("run", "--memory", "--entry", "Buyer1=no.such.module:f")
    assert code == 2 and "cannot import no.such.module" in err and "Traceback" not in err
    code, _, err = run("run", "--config", "x.json", "--role", "A", "--entry", "no_such_module:f")
    assert code == 2 and "cannot import no_such_module" in err


def test_keys_gen_makes_folders_and_config_reads_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "keys" / "deep" / "a.key"
    assert run("run", "keys", "gen", str(key))[0] == 0 and key.is_file()
    assert run("run", "keys", "gen", str(tmp_path / "keys" / "b.key"))[0] == 0
    net = tmp_path / "net.toml"
    net.write_text(
        'session = "s"\n\n[members.A]\nhost = "127.0.0.1"\nport = 7001\nkey = "keys/deep/a.key"\n\n'
        '[members."B"]\nhost = "127.0.0.1"\nport = 7002\nkey = "keys/b.key"\ned25519 = "old"\n',
        encoding="utf-8")
    capsys.readouterr()
    assert run("run", "keys", "config", str(net))[0] == 0
    data = tomllib.loads(net.read_text(encoding="utf-8"))
    assert {m: len(v["ed25519"]) for m, v in data["members"].items()} == {"A": 44, "B": 44}
    assert run("run", "keys", "list", str(net))[0] == 0
    assert "(missing)" not in capsys.readouterr().out


# ---------------------------------------------------------------- layering and integration files


def test_the_runtime_never_imports_the_compiler() -> None:
    """Every runtime module, the runtime CLI and a generated module, imported in a fresh
    interpreter: neither the compiler nor its dependencies get loaded."""
    probe = (
        "import importlib, pkgutil, sys, runtime, runtime.crypto\n"
        "for pkg in (runtime, runtime.crypto):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "import runtime.cli, generated.examples.two_buyer\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'codegen', 'yaml', 'libcst', 'mypy'})\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_minuet_command_starts_without_the_compiler_extra() -> None:
    """A runtime-only install (no PyYAML, libcst): `minuet` starts, `minuet run`
    works, and a compiler command says which extra to install (exit 2, no traceback)."""
    probe = (
        "import sys\n"
        "for m in ('yaml', 'libcst'): sys.modules[m] = None  # as if not installed\n"
        "from codegen.cli import main\n"
        "print(main(['run', 'keys', 'pub', '/nonexistent']), main(['check', 'protocols']))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.split() == ["2", "2"], done.stdout + done.stderr
    assert "pip install 'minuet[compiler]'" in done.stderr and "Traceback" not in done.stderr


def test_pre_commit_hooks_match_the_compiler_extra() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    extra = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert {h["id"] for h in hooks} == {"minuet-check", "minuet-generate", "minuet-lint"}
    for h in hooks:
        assert h["additional_dependencies"] == extra["compiler"], h["id"]
        assert h["entry"].split()[1] in {c.name for c in COMMANDS}
