"""``Secret``: a base for objects holding secret key material or one-time nonces.

Copying one would let the same nonce sign twice (two signatures with one FROST nonce pair
and different challenges give away the signing share) and pickling would write the secret
out in the clear, so copy, deepcopy and pickle are refused explicitly with ``TypeError``
rather than working or failing by accident. A secret is moved (passed by reference) and
stored only through its own encrypted form (``seal``).
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = ["Secret"]


class Secret:
    __slots__ = ()

    def _refuse(self, what: str) -> NoReturn:
        raise TypeError(
            f"{type(self).__name__} holds secret material and cannot be {what}: "
            "pass the object itself, store it sealed"
        )

    def __copy__(self) -> NoReturn:
        self._refuse("copied")

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        self._refuse("copied")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        self._refuse("pickled")

    def __getstate__(self) -> NoReturn:
        self._refuse("pickled")
