"""``minuet generate``: typed modules from specs, written into the user's own project.

    minuet generate [SPEC_OR_DIR ...] [--out DIR] [--check] [--format text|json|github]

Where things are: flags, else the ``[tool.minuet]`` table of the nearest ``pyproject.toml``
(``specs``, ``out``, ``package-root``; paths relative to that file), else ``protocols/`` and
``generated/`` under the project root (the folder of that ``pyproject.toml``, else the
working directory).

What it may touch (the rules users rely on):

- it never writes inside an installed distribution, a virtual environment or any
  ``site-packages`` folder;
- a file is the generator's when its header says so (``codegen.backend.headers``); it removes or
  rewrites only its own modules generated from the specs it was given (a spec file, or any
  spec under a given folder), so two spec roots can share one output package;
- it never overwrites a file it did not generate, and writes a package marker only where no
  ``__init__.py`` exists.

Headers name each spec relative to the project root of the output folder, so ``--check``
gives the same verdict from any working directory. A module is never held whole in memory:
``render`` prints it piece by piece, and each piece is compared with the file on disk or
written to a temporary file that replaces the old one when complete (issue 15). Exit status: 0 clean or written, 1 spec
errors, conflicts or (``--check``) stale output, 2 usage, configuration or I/O error.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TextIO

from codegen.backend.headers import PACKAGE_MARKER, REGENERATE, Generated, read_header
from codegen.backend.render import ModuleModel, RenderError, module_text, namespace_of, render_model
from codegen.core.diagnostics import (
    FOREIGN_FILE,
    FORMATS,
    NAMESPACE_CONFLICT,
    STALE_OUTPUT,
    UNREADABLE_FILE,
    Diagnostic,
    Format,
    format_all,
)
from codegen.core.span import Span
from codegen.frontend.load import read_spec
from codegen.pipeline import compile_text
from runtime.errors import ConfigError
from runtime.pyproject import find_project_root, tool_table

REPO = Path(__file__).resolve().parent.parent
INIT = "__init__.py"
# Folders never searched for generated files: tools' caches, VCS data and environments.
_SKIP_DIRS = frozenset({"__pycache__", "site-packages", "dist-packages", "node_modules"})


class UsageError(Exception):
    """Bad flags, configuration or paths: exit status 2, one clear line, no traceback."""


# What a file will hold: a rendered module (printed piece by piece) or short literal text.
Content = ModuleModel | str


def pieces(content: Content) -> Iterable[str]:
    """The file's text in pieces whose concatenation is the file."""
    return (content,) if isinstance(content, str) else module_text(content)


@dataclass
class Output:
    files: dict[str, ModuleModel] = field(default_factory=dict)  # path relative to the out dir -> module
    errors: list[str] = field(default_factory=list)  # rendered diagnostics per failing spec
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    libraries: list[str] = field(default_factory=list)  # specs of sub-protocols only: no module


@dataclass(frozen=True)
class Settings:
    specs: tuple[Path, ...]  # spec files and folders
    out: Path
    root: Path  # headers name specs relative to this folder
    package_root: Path  # the folder ``out`` is imported from (``sys.path`` entry)


# ---------------------------------------------------------------- where things are


def _config_paths(table: dict[str, object], key: str, root: Path) -> list[Path] | None:
    value = table.get(key)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if (not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items)
            or (key != "specs" and len(items) != 1)):
        raise UsageError(f"{root / 'pyproject.toml'}: [tool.minuet] {key} must be a path"
                         + (" or a list of paths" if key == "specs" else ""))
    return [root / str(v) for v in items]


def header_root(out: Path) -> Path:
    """The project root for header paths: found from the output folder, not the working
    directory, so every run that writes one folder names its specs the same way."""
    return find_project_root(out) or out.resolve().parent


def resolve(specs: list[str], out: str | None, cwd: Path) -> Settings:
    """Flags win over ``[tool.minuet]``, which wins over ``protocols/`` -> ``generated/``."""
    project = find_project_root(cwd) or cwd
    try:
        table = tool_table(project)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    spec_paths = [cwd / s for s in specs] or _config_paths(table, "specs", project) or [project / "protocols"]
    out_path = cwd / out if out else (_config_paths(table, "out", project) or [project / "generated"])[0]
    pkg = _config_paths(table, "package-root", project)
    for p in spec_paths:
        if not p.exists():
            raise UsageError(f"{p}: no such spec file or folder")
    return Settings(tuple(spec_paths), out_path, header_root(out_path), pkg[0] if pkg else project)


def installed_location(out: Path) -> str | None:
    """Why ``out`` is no place to generate into (an installed distribution), or None."""
    target = out.resolve()
    parts = set(target.parts)
    if parts & {"site-packages", "dist-packages"}:
        return "it is inside a site-packages folder"
    for d in (target, *target.parents):
        if (d / "pyvenv.cfg").is_file():
            return f"it is inside the virtual environment {d}"
    for key in ("purelib", "platlib", "stdlib", "platstdlib"):
        lib = Path(sysconfig.get_paths()[key]).resolve()
        if target == lib or lib in target.parents:
            return f"it is inside the Python installation ({lib})"
    return None


SPEC_SUFFIXES: Final = (".yaml", ".yml")


def find_specs(root: Path) -> list[Path]:
    """Every spec under ``root``, skipping environments and tool folders as ``_walk`` does."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if _searched(here, d)]
        found += [here / f for f in filenames if f.endswith(SPEC_SUFFIXES)]
    return sorted(found, key=lambda p: p.as_posix())


def _searched(parent: Path, name: str) -> bool:
    return not name.startswith(".") and name not in _SKIP_DIRS and not (parent / name / "pyvenv.cfg").exists()


def _rel(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()


# ---------------------------------------------------------------- compiling (pure apart from reading specs)


def generate_all(specs: list[Path], base: Path = REPO) -> Output:
    """Compile and render every spec; pure apart from reading the spec files."""
    out = Output()
    owner: dict[str, str] = {}  # module path -> spec
    for path in specs:
        rel = _rel(path, base)
        text, unreadable = read_spec(path, rel)  # read and reported exactly as check does
        if unreadable is not None:
            out.diagnostics.append(unreadable)
            out.errors.append(format_all([unreadable], {}, "text"))
            continue
        compiled = compile_text(text, rel, lambda imported: (base / imported).read_text(encoding="utf-8"))
        out.sources.update(compiled.sources(rel))
        diags = list(compiled.diagnostics)
        if compiled.ok and compiled.protocol is not None and compiled.protocol.library:
            out.libraries.append(rel)  # nothing to run: its sub-protocols live on in importers
        elif compiled.ok and compiled.protocol is not None:
            protocol = compiled.protocol
            parts = namespace_of(protocol).split(".")
            module = "/".join(parts) + ".py"
            try:
                body = render_model(protocol, compiled.locals, rel)
            except RenderError as e:
                diags += e.diagnostics
            else:
                clash = owner.get(module)
                pkg_clash = [m for m in owner if m.startswith("/".join(parts) + "/")
                             or module.startswith(m[:-3] + "/")]
                if clash or pkg_clash:
                    other = clash or owner[pkg_clash[0]]
                    diags.append(Diagnostic(
                        NAMESPACE_CONFLICT, protocol.span,
                        f"namespace {namespace_of(protocol)} clashes with the module of {other}",
                        "give one of the specs another `namespace:`"))
                else:
                    owner[module] = rel
                    out.files[module] = body
        out.diagnostics += diags
        if any(d.severity == "error" for d in diags):
            out.errors.append(format_all(diags, compiled.sources(rel), "text"))
    return out


# ---------------------------------------------------------------- what is on disk, what to change


def _walk(out_dir: Path) -> Iterator[Path]:
    """Python files under ``out_dir``, never descending into environments or tool folders."""
    for dirpath, dirnames, filenames in os.walk(out_dir):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if _searched(here, d))
        for f in sorted(filenames):
            if f.endswith(".py"):
                yield here / f


@dataclass(frozen=True)
class Scope:
    """The specs of this run (project-relative): their modules are the ones it may replace."""

    files: frozenset[str]
    folders: tuple[str, ...]

    def covers(self, spec: str) -> bool:
        return spec in self.files or any(f in ("", ".") or spec.startswith(f + "/") for f in self.folders)


def scope_of(specs: Iterable[Path], base: Path) -> Scope:
    files: set[str] = set()
    folders: list[str] = []
    for p in specs:
        (folders.append if p.is_dir() else files.add)(_rel(p, base))
    return Scope(frozenset(files), tuple(folders))


@dataclass
class Plan:
    write: dict[str, Content] = field(default_factory=dict)  # changed or new generated files
    remove: list[str] = field(default_factory=list)  # our modules no spec produces any more
    old: set[str] = field(default_factory=set)  # ours on disk (read again for the diff)
    conflicts: list[Diagnostic] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.write or self.remove)


def plan(out: Output, out_dir: Path, scope: Scope) -> Plan:
    """Compare what the specs produce with what is on disk; decide nothing it does not own."""
    result = Plan()
    on_disk: dict[str, str | None] = {}  # relative path -> spec (None: marker); absent: foreign
    foreign: set[str] = set()
    for p in _walk(out_dir) if out_dir.is_dir() else ():
        name = p.relative_to(out_dir).as_posix()
        header = _header_of(p)
        if header is None:
            foreign.add(name)
            continue
        on_disk[name] = header.spec
        if header.spec is None or scope.covers(header.spec):
            result.old.add(name)
    for name, text in out.files.items():
        target = _disp(out_dir, name)
        if name in foreign:
            result.conflicts.append(Diagnostic(
                FOREIGN_FILE, Span(target, 0, 0), "a generated module would overwrite a file Minuet did not write",
                "move the file away, or give the spec another `namespace:`"))
        elif name in on_disk and not scope.covers(on_disk[name] or ""):
            result.conflicts.append(Diagnostic(
                FOREIGN_FILE, Span(target, 0, 0),
                f"a generated module would overwrite the module generated from {on_disk[name]}, "
                "which is not among the specs of this run",
                "give one of the specs another `namespace:`"))
        elif name not in result.old or not same_text(out_dir / name, pieces(text)):
            result.write[name] = text
    # A package marker only where no __init__.py exists (ours, another run's or the user's).
    packages = {str(Path(m).parent.as_posix()) for m in out.files}
    for pkg in sorted({"/".join(Path(p).parts[:i]) for p in packages for i in range(len(Path(p).parts) + 1)}):
        init = f"{pkg}/{INIT}" if pkg else INIT
        if init not in on_disk and init not in foreign:
            result.write[init] = PACKAGE_MARKER
    for name, spec in sorted(on_disk.items()):
        if spec is not None and scope.covers(spec) and name not in out.files:
            result.remove.append(name)
    return result


# Enough of a file to hold its header line and to tell a package marker from a longer file.
_HEAD_CHARS: Final = 4096


def _header_of(path: Path) -> Generated | None:
    """The header of a file on disk (reading only its start); None when not ours or unreadable."""
    try:
        with path.open(encoding="utf-8") as f:
            return read_header(f.read(_HEAD_CHARS))
    except (OSError, UnicodeDecodeError):
        return None


def same_text(path: Path, text: Iterable[str]) -> bool:
    """Whether the file holds exactly ``text``, read piece by piece beside it (newlines read
    as ``read_text`` does), so neither side is ever whole in memory."""
    try:
        with path.open(encoding="utf-8") as f:
            for piece in text:
                if f.read(len(piece)) != piece:
                    return False
            return f.read(1) == ""
    except (OSError, UnicodeDecodeError):
        return False


def _disp(out_dir: Path, name: str) -> str:
    return (out_dir / name).as_posix()


def diff(out: Output, out_dir: Path, scope: Scope | None = None) -> str:
    """A unified diff from what is on disk to what the specs produce (empty when clean).
    Shown by ``--check`` when stale: the stale files are read whole, to be compared line by line."""
    p = plan(out, out_dir, scope or scope_of([REPO / "protocols"], REPO))
    label = out_dir.name
    chunks: list[str] = []
    for name in sorted(set(p.write) | set(p.remove)):
        old = _read_ours(out_dir / name) if name in p.old else ""
        new = "".join(pieces(p.write[name])) if name in p.write else ""
        chunks += difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True),
            f"a/{label}/{name}" if name in p.old else "/dev/null",
            f"b/{label}/{name}" if name in p.write else "/dev/null",
        )
    return "".join(chunks)


def stale_diagnostics(p: Plan, out_dir: Path) -> list[Diagnostic]:
    """Every stale file as a diagnostic, so ``--check`` speaks every output format."""
    diags = []
    for name in sorted(p.write):
        what = "is out of date" if name in p.old else "is missing"
        diags.append(Diagnostic(STALE_OUTPUT, Span(_disp(out_dir, name), 0, 0), f"generated file {what}",
                                f"run `{REGENERATE}`"))
    for name in p.remove:
        diags.append(Diagnostic(STALE_OUTPUT, Span(_disp(out_dir, name), 0, 0),
                                "generated file is left over from a spec that no longer produces it",
                                f"run `{REGENERATE}`"))
    return diags


def _read_ours(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def write_atomic(target: Path, text: Iterable[str]) -> None:
    """Write the pieces to a temporary file beside ``target``, then put it in its place: a
    reader (or a run stopped halfway) sees the old file or the new one, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with open(fd, "w", encoding="utf-8") as f:
            for piece in text:
                f.write(piece)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    """The process's umask (read by setting it): new files get the mode ``write_text`` gives."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def apply(p: Plan, out_dir: Path) -> None:
    for name, content in sorted(p.write.items()):
        write_atomic(out_dir / name, pieces(content))
    emptied: set[Path] = set()
    for name in p.remove:
        (out_dir / name).unlink()
        emptied.add((out_dir / name).parent)
    # Folders that held only removed modules: their marker (if ours) and the folder go too.
    for d in sorted(emptied, key=lambda d: -len(d.parts)):
        while d != out_dir and out_dir in d.parents:
            rest = [c for c in d.iterdir() if c.name != "__pycache__"]
            init = d / INIT
            if rest == [init] and init.read_text(encoding="utf-8") == PACKAGE_MARKER:
                init.unlink()
                rest = []
            if rest:
                break
            for c in d.iterdir():  # only __pycache__ is left
                for f in c.iterdir():
                    f.unlink()
                c.rmdir()
            d.rmdir()
            d = d.parent


# ---------------------------------------------------------------- command


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="minuet generate", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or folders (default: protocols/)")
    ap.add_argument("--specs", dest="spec_flag", action="append", default=[], metavar="SPEC",
                    help="same as a positional SPEC (repeatable)")
    ap.add_argument("--out", help="output package folder (default: generated/)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 when the output is stale")
    ap.add_argument("--format", choices=FORMATS, default="text", help="diagnostics format")
    return ap


def main(argv: list[str] | None = None, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out_s, err_s = stdout or sys.stdout, stderr or sys.stderr
    try:
        args = parser().parse_args(argv)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        return _run(args, out_s, err_s)
    except (UsageError, OSError) as e:  # OSError: an output folder that cannot be written
        print(f"minuet generate: {e}", file=err_s)
        return 2


def _run(args: argparse.Namespace, out_s: TextIO, err_s: TextIO) -> int:
    fmt: Format = args.format
    settings = resolve([*args.specs, *args.spec_flag], args.out, Path.cwd())
    why = installed_location(settings.out)
    if why is not None:
        raise UsageError(f"refusing to write into {settings.out}: {why}; "
                         "pass --out with a folder of your project")
    specs: list[Path] = []
    for s in settings.specs:
        specs += find_specs(s) if s.is_dir() else [s]
    out = generate_all(specs, settings.root)
    scope = scope_of(settings.specs, settings.root)
    if out.errors:
        _report(out.diagnostics, out.sources, fmt, out_s, err_s)
        print(f"generate: {len(out.errors)} spec(s) have errors; nothing written", file=err_s)
        return 2 if any(d.code == UNREADABLE_FILE for d in out.diagnostics) else 1  # unreadable: I/O error
    p = plan(out, settings.out, scope)
    if p.conflicts:
        _report(p.conflicts, {}, fmt, out_s, err_s)
        print("generate: nothing written", file=err_s)
        return 1
    modules = len(out.files)
    if args.check:
        if p.clean:
            if fmt == "text":
                print(f"generate --check: {modules} module{'s' if modules != 1 else ''} up to date", file=out_s)
            else:
                _report([], {}, fmt, out_s, err_s)
            return 0
        if fmt == "text":
            out_s.write(diff(out, settings.out, scope))
        _report(stale_diagnostics(p, settings.out), {}, fmt, out_s, err_s)
        return 1
    apply(p, settings.out)
    where = import_prefix(settings)
    print(f"generate: {modules} module{'s' if modules != 1 else ''} in {_shown(settings.out)} "
          f"({len(p.write)} written, {len(p.remove)} removed)"
          + (f"; import them as {where}<module>" if where is not None else "")
          + (f"; {len(out.libraries)} librar{'ies' if len(out.libraries) != 1 else 'y'} of sub-protocols "
             f"({', '.join(out.libraries)}) make{'' if len(out.libraries) != 1 else 's'} no module"
             if out.libraries else ""), file=out_s)
    return 0


def import_prefix(settings: Settings) -> str | None:
    """``generated.`` when ``out`` is the package ``generated`` under the package root
    (``""`` for top-level modules), None when ``out`` is not importable from there."""
    try:
        rel = settings.out.resolve().relative_to(settings.package_root.resolve())
    except ValueError:
        return None
    if not all(part.isidentifier() for part in rel.parts):
        return None
    return "".join(part + "." for part in rel.parts)


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix() or "."
    except ValueError:
        return str(path)


def _report(diags: list[Diagnostic], sources: dict[str, str], fmt: Format, out_s: TextIO, err_s: TextIO) -> None:
    """Text goes to stderr for people; JSON and annotations to stdout for tools."""
    text = format_all(diags, sources, fmt)
    if text:
        print(text, file=err_s if fmt == "text" else out_s)


if __name__ == "__main__":
    sys.exit(main())
