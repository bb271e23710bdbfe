"""The user's ``[tool.minuet]`` table, found as ruff and mypy find theirs: in the nearest
``pyproject.toml`` at or above a folder. Read by ``minuet generate`` (``specs``, ``out``,
``package-root``) and by ``minuet run`` (``package-root``, the folder generated packages are
imported from); it lives in the runtime so that ``minuet run`` needs no compiler."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Final

from runtime.errors import ConfigError

KEYS: Final = frozenset({"specs", "out", "package-root"})


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a ``pyproject.toml``."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / "pyproject.toml").is_file():
            return d
    return None


def tool_table(root: Path) -> dict[str, object]:
    """``[tool.minuet]`` of ``root/pyproject.toml`` (empty when absent); unknown keys are an
    error, so a misspelt setting is not silently ignored."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from e
    tool = data.get("tool", {})
    table = tool.get("minuet", {}) if isinstance(tool, dict) else {}
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.minuet] must be a table")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} in [tool.minuet] (known: {', '.join(sorted(KEYS))})")
    return table


def package_root(cwd: Path) -> Path:
    """The folder generated packages are imported from: ``package-root``, else the project root."""
    root = find_project_root(cwd) or cwd
    value = tool_table(root).get("package-root")
    if value is None:
        return root
    if not isinstance(value, str):
        raise ConfigError(f"{root / 'pyproject.toml'}: [tool.minuet] package-root must be a path")
    return root / value
