"""Typed errors of ``runtime.crypto``.

Every failure the crypto layer raises on purpose is a :class:`CryptoError`. Errors caused by a
peer carry ``culprits``: the identifiers of the participants whose messages were wrong, so the
protocol layer can exclude them and retry. libsodium's ``RuntimeError`` never escapes: it is
mapped at the call site to one of these.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.errors import MinuetError


class CryptoError(MinuetError):
    """Base of every error ``runtime.crypto`` raises on purpose."""


class InvalidParameters(CryptoError):
    """The caller passed inconsistent or out-of-range parameters (our own side's fault)."""


class NonceReuse(CryptoError):
    """A single-use secret (FROST signing nonces) was used a second time."""


class InvalidSignature(CryptoError):
    """A signature does not verify."""


class DecryptionError(CryptoError):
    """A sealed message failed authentication (tampered, wrong key, wrong aad or context)."""


class CulpritError(CryptoError):
    """An error attributable to specific participants, listed in ``culprits`` (sorted)."""

    def __init__(self, culprits: Iterable[int], detail: str = "") -> None:
        self.culprits: tuple[int, ...] = tuple(sorted(set(culprits)))
        self.detail = detail
        who = ", ".join(str(c) for c in self.culprits) if self.culprits else "<dealer>"
        msg = f"{type(self).__name__}: culprit(s) {who}"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class InvalidEncoding(CulpritError):
    """A received scalar or point is malformed: wrong length, non-canonical, scalar >= L, point
    off the curve / outside the prime-order subgroup / of small order / the identity.

    ``culprits`` is empty when the sender is not known at the decoding site.
    """


class InvalidShare(CulpritError):
    """A (signature, secret or reshared) share does not verify against its commitments.

    An empty ``culprits`` means the trusted dealer.
    """


class MissingShare(CulpritError):
    """Expected shares did not arrive from the listed participants."""


class InvalidProof(CulpritError):
    """A DKG proof of knowledge does not verify."""


class RevealError(CulpritError):
    """Commit-reveal failed. ``missing`` did not reveal; ``mismatched`` revealed a value/nonce
    that does not open their commitment (or revealed without having committed)."""

    def __init__(self, missing: Iterable[int], mismatched: Iterable[int], detail: str = "") -> None:
        self.missing: tuple[int, ...] = tuple(sorted(set(missing)))
        self.mismatched: tuple[int, ...] = tuple(sorted(set(mismatched)))
        super().__init__(self.missing + self.mismatched, detail)


class MissingReveal(RevealError):
    """At least one committed participant did not reveal (``mismatched`` may be non-empty too)."""


class InvalidReveal(RevealError):
    """Every committed participant revealed, but some reveals do not open their commitment."""
