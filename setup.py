"""Packaging: what the wheel installs, beyond the metadata in pyproject.toml.

codegen/ and runtime/ are installed as they are. The repository's own generated/ and
examples/ (the bundled threshold protocols and their role programs) are installed under one
package, ``minuet_protocols``:

    generated.X  ->  minuet_protocols.generated.X
    examples.X   ->  minuet_protocols.examples.X

so a user's own top-level ``generated`` package can neither shadow them nor be shadowed by
them. Their absolute imports of ``generated``/``examples`` are rewritten to the new names in
the built copy (the way pip vendors its dependencies); the repository keeps its layout.
Editable installs (``make setup``) are left alone: there the repository's names work.
"""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

BUNDLE = "minuet_protocols"
BUNDLED = ("generated", "examples")
_IMPORT = re.compile(r"^(\s*)(from|import) (generated|examples)(?=[.\s])", re.MULTILINE)
_INIT = '"""Minuet\'s bundled protocols: the generated modules and role programs of the\nrepository\'s generated/ and examples/ (see setup.py)."""\n'


def _bundle_packages() -> list[str]:
    return [f"{BUNDLE}.{p}" for top in BUNDLED for p in find_packages(include=[top, f"{top}.*"])]


class BuildWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = Path(self.build_lib) / BUNDLE
        (root / "__init__.py").write_text(_INIT, encoding="utf-8")
        (root / "py.typed").write_text("", encoding="utf-8")
        for path in root.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            new = _IMPORT.sub(rf"\1\2 {BUNDLE}.\3", text)
            if new != text:
                path.write_text(new, encoding="utf-8")


setup(
    packages=find_packages(include=["codegen", "codegen.*", "runtime", "runtime.*"]) + _bundle_packages(),
    package_dir={f"{BUNDLE}.{top}": top for top in BUNDLED},
    cmdclass={"build_py": BuildWithBundle},
)
