"""Minuet compiler: load (YAML -> AST with spans) -> validate -> project -> state machines
-> render (jinja2) -> check (libcst, mypy)."""
