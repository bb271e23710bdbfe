"""``python -m codegen.generate``: regenerate ``generated/`` from every spec under ``protocols/``.

``--check`` regenerates in memory and prints a unified diff (exit 1) when ``generated/`` is
stale. Files under ``generated/`` that start with the generator's header are owned: stale
ones are removed; anything else there is left alone.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path

from codegen.diagnostics import Diagnostic, render_all
from codegen.pipeline import compile_text
from codegen.render import HEADER_MARK, RenderError, namespace_of, render_module
from codegen.span import Span

REPO = Path(__file__).resolve().parent.parent
INIT_TEXT = f"{HEADER_MARK}: package marker.\n"


@dataclass
class Output:
    files: dict[str, str] = field(default_factory=dict)  # path relative to the out dir -> text
    errors: list[str] = field(default_factory=list)  # rendered diagnostics per failing spec


def find_specs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.yaml"), key=lambda p: p.as_posix())


def _rel(path: Path, base: Path) -> str:
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def generate_all(specs: list[Path], base: Path = REPO) -> Output:
    """Compile and render every spec; pure apart from reading the spec files."""
    out = Output()
    out.files["__init__.py"] = INIT_TEXT
    owner: dict[str, str] = {}  # module path -> spec
    for path in specs:
        rel = _rel(path, base)
        text = path.read_text(encoding="utf-8")
        compiled = compile_text(text, rel, lambda imported: (base / imported).read_text(encoding="utf-8"))
        diags = list(compiled.diagnostics)
        if compiled.ok and compiled.protocol is not None:
            protocol = compiled.protocol
            parts = namespace_of(protocol).split(".")
            module = "/".join(parts) + ".py"
            try:
                body = render_module(protocol, compiled.locals, rel)
            except RenderError as e:
                diags += e.diagnostics
            else:
                clash = owner.get(module)
                pkg_clash = [m for m in owner if m.startswith("/".join(parts) + "/")
                             or module.startswith(m[:-3] + "/")]
                if clash or pkg_clash:
                    other = clash or owner[pkg_clash[0]]
                    diags.append(Diagnostic(
                        "M602", protocol.span,
                        f"namespace {namespace_of(protocol)} clashes with the module of {other}",
                        "give one of the specs another `namespace:`"))
                else:
                    owner[module] = rel
                    out.files[module] = body
                    for i in range(1, len(parts)):
                        out.files.setdefault("/".join(parts[:i]) + "/__init__.py", INIT_TEXT)
        if any(d.severity == "error" for d in diags):
            out.errors.append(render_all(diags, compiled.sources(rel)))
    return out


def _owned(out_dir: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    if not out_dir.is_dir():
        return found
    for p in sorted(out_dir.rglob("*.py")):
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text.startswith(HEADER_MARK):
            found[p.relative_to(out_dir).as_posix()] = text
    return found


def diff(out: Output, out_dir: Path) -> str:
    have = _owned(out_dir)
    chunks: list[str] = []
    for name in sorted(set(have) | set(out.files)):
        old, new = have.get(name, ""), out.files.get(name, "")
        if old != new:
            chunks += difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                f"a/generated/{name}" if name in have else "/dev/null",
                f"b/generated/{name}" if name in out.files else "/dev/null",
            )
    return "".join(chunks)


def write(out: Output, out_dir: Path) -> tuple[int, int]:
    """Write changed files, delete stale owned ones; (written, removed)."""
    have = _owned(out_dir)
    written = removed = 0
    for name, text in out.files.items():
        if have.get(name) != text:
            target = out_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written += 1
    for name in sorted(set(have) - set(out.files), reverse=True):
        (out_dir / name).unlink()
        removed += 1
    # Empty package directories left behind by removed specs.
    for d in sorted((p for p in out_dir.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(d.iterdir()):
            d.rmdir()
    return written, removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="minuet generate", description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--check", action="store_true", help="exit 1 with a diff when generated/ is stale")
    ap.add_argument("--specs", default=str(REPO / "protocols"), help="spec directory (default protocols/)")
    ap.add_argument("--out", default=str(REPO / "generated"), help="output directory (default generated/)")
    args = ap.parse_args(argv)
    spec_dir, out_dir = Path(args.specs), Path(args.out)
    if not spec_dir.is_dir():
        print(render_all([Diagnostic("M113", Span(str(spec_dir), 0, 0), "spec directory not found")], {}),
              file=sys.stderr)
        return 1
    out = generate_all(find_specs(spec_dir))
    if out.errors:
        for e in out.errors:
            print(e, file=sys.stderr)
        print(f"generate: {len(out.errors)} spec(s) have errors; nothing written", file=sys.stderr)
        return 1
    if args.check:
        d = diff(out, out_dir)
        if d:
            sys.stdout.write(d)
            print("generate --check: generated/ is stale; run `make generate`", file=sys.stderr)
            return 1
        print(f"generate --check: {len(out.files)} files up to date")
        return 0
    written, removed = write(out, out_dir)
    print(f"generate: {len(out.files)} files ({written} written, {removed} removed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
