"""Typed errors of ``runtime.crypto``.

Every failure the crypto layer raises on purpose is a ``CryptoError``. Failures a peer caused
and that can be pinned on it are ``IdentifiedFault``s carrying ``culprits`` (sorted
identifiers), so protocol code can exclude them and retry (identifiable abort). libsodium's
one-size ``RuntimeError`` never escapes this package: it is mapped at each call site.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.errors import MinuetError

__all__ = [
    "CommitmentMismatch",
    "CryptoError",
    "IdentifiedFault",
    "InvalidCommitment",
    "InvalidEncoding",
    "InvalidParameters",
    "InvalidPoint",
    "InvalidProof",
    "InvalidReveal",
    "InvalidScalar",
    "InvalidShare",
    "InvalidSignature",
    "InvalidSignatureShare",
    "MissingReveal",
    "MissingShare",
    "NonceReuse",
    "RevealError",
    "SealError",
]


class CryptoError(MinuetError):
    """Base of every error raised by ``runtime.crypto``."""


class InvalidParameters(CryptoError, ValueError):
    """Our own caller passed inconsistent arguments (threshold, identifiers, sets)."""


class InvalidEncoding(CryptoError):
    """Bytes are not a canonical encoding of the expected value (sender unknown here; the
    protocol functions re-raise it as an ``IdentifiedFault`` naming the sender)."""


class InvalidScalar(InvalidEncoding):
    """Not 32 bytes little-endian below the group order L (or zero where zero is refused)."""


class InvalidPoint(InvalidEncoding):
    """Not a canonical encoding of a non-identity point of the prime-order subgroup."""


class InvalidSignature(CryptoError):
    """A signature does not verify."""


class NonceReuse(CryptoError):
    """A one-time signing nonce was used a second time; the second use was refused."""


class SealError(CryptoError):
    """A sealed message did not open: tampering, wrong key, wrong sender, aad or context."""


class IdentifiedFault(CryptoError):
    """A failure attributable to the participants in ``culprits`` (sorted, distinct)."""

    def __init__(self, culprits: Iterable[int], detail: str) -> None:
        self.culprits: tuple[int, ...] = tuple(sorted(set(culprits)))
        self.detail = detail
        who = ", ".join(map(str, self.culprits)) or "none identified"
        super().__init__(f"{detail} (culprits: {who})")

    @property
    def culprit(self) -> int:
        """The first culprit: convenient when exactly one is reported."""
        return self.culprits[0]


class InvalidShare(IdentifiedFault):
    """A secret share from a dealer is inconsistent with its VSS commitment."""


class MissingShare(IdentifiedFault):
    """Expected shares or packages did not arrive from the culprits."""


class InvalidProof(IdentifiedFault):
    """A DKG proof of knowledge does not verify."""


class InvalidCommitment(IdentifiedFault):
    """A commitment (nonce, VSS or reshare) from the culprit is malformed or inconsistent."""


class CommitmentMismatch(InvalidCommitment):
    """The signing package does not carry the commitments we generated for it."""


class InvalidSignatureShare(IdentifiedFault):
    """FROST signature shares that are missing, malformed or do not verify."""


class RevealError(IdentifiedFault):
    """Commit-reveal failed: ``missing`` did not reveal, ``mismatched`` revealed something that
    does not open their commitment (or revealed without having committed)."""

    def __init__(self, missing: Iterable[int], mismatched: Iterable[int]) -> None:
        self.missing: tuple[int, ...] = tuple(sorted(set(missing)))
        self.mismatched: tuple[int, ...] = tuple(sorted(set(mismatched)))
        parts = []
        if self.missing:
            parts.append(f"no reveal from {list(self.missing)}")
        if self.mismatched:
            parts.append(f"reveal does not open the commitment from {list(self.mismatched)}")
        super().__init__((*self.missing, *self.mismatched), "; ".join(parts) or "reveal failed")


class MissingReveal(RevealError):
    """At least one participant did not reveal (``mismatched`` may list others as well)."""


class InvalidReveal(RevealError):
    """Everybody revealed, but some reveals do not open their commitments."""
