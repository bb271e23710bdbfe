"""The one spelling rule shared by the generator and the runtime: ``snake_case`` of a spec
name. It lives in the runtime (the lower layer) so that ``minuet run`` can find a generated
``start_<role>`` without importing the compiler; ``codegen.core.names`` re-exports it."""

from __future__ import annotations

import re
from typing import Final

_CAMEL_1: Final = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_2: Final = re.compile(r"([a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``FooBar`` -> ``foo_bar``, ``HTTPRequest`` -> ``http_request``, ``Foo_Bar`` -> ``foo_bar``."""
    s = _CAMEL_1.sub(r"\1_\2", name)
    s = _CAMEL_2.sub(r"\1_\2", s)
    return re.sub(r"_+", "_", s).lower()
