"""FROST(Ed25519, SHA-512), RFC 9591: two-round threshold Schnorr signatures.

Flow::

    nonces, commitments = commit(key_package, rng)            # round one, every signer
    package = SigningPackage(all_commitments, message)          # coordinator
    share = sign(package, nonces, key_package)                  # round two, every signer
    signature = aggregate(package, shares, public_key_package)  # coordinator

The signature is a plain 64-byte Ed25519 signature (``verify`` checks it with
``cryptography``). ``aggregate`` names the senders of bad shares (``InvalidSignatureShare``).

Validation of received values: ``SigningCommitments.from_bytes`` and
``SigningPackage.from_bytes`` fully validate every hiding commitment, scalars are checked
< L by ``SignatureShare.from_bytes``. A binding commitment is used exactly once, as the
point of the multiplication ρ_j·E_j, and libsodium's crypto_scalarmult_ed25519_noclamp runs
the full crypto_core_ed25519_is_valid_point check on it first; we do not pay for that check
twice, but nothing reads E_j as a point before it passed (see ``hazmat.group.mul_received``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .errors import (
    CommitmentMismatch,
    CryptoError,
    InvalidCommitment,
    InvalidEncoding,
    InvalidParameters,
    InvalidPoint,
    InvalidSignature,
    InvalidSignatureShare,
    NonceReuse,
)
from .hazmat.group import (
    POINT_BYTES,
    SCALAR_BYTES,
    InvalidPointAt,
    L,
    Point,
    add,
    base_mul,
    is_valid_point_bytes,
    mul,
    mul_received,
    point_from_bytes,
    scalar_from_bytes,
    scalar_from_wide,
    scalar_to_bytes,
    sodium_verify,
    sum_with_products,
)
from .hazmat.poly import lagrange_at_zero
from .hazmat.suite import CONTEXT, H2, H3, H4, H5, identifier_from_bytes, identifier_to_bytes
from .keys import KeyPackage, PublicKeyPackage
from .rand import RandomSource, default_random
from .secret import Secret

__all__ = [
    "SIGNATURE_BYTES",
    "SignatureShare",
    "SigningCommitments",
    "SigningNonces",
    "SigningPackage",
    "aggregate",
    "binding_factor_input",
    "binding_factors",
    "commit",
    "group_commitment",
    "nonce_generate",
    "sign",
    "verify",
    "verify_signature_share",
]

SIGNATURE_BYTES = 64
_COMMITMENT_BYTES = SCALAR_BYTES + 2 * POINT_BYTES
_RHO_PREFIX = CONTEXT + b"rho"


# --- round one ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningCommitments:
    """A signer's public nonce commitments (D_i, E_i) for one signing session.

    ``hiding`` is a validated point; ``binding`` is the canonical 32-byte encoding, validated
    by the multiplication that consumes it (module docstring). Use ``binding_point`` if you
    need it as a ``Point``.
    """

    identifier: int
    hiding: Point
    binding: bytes
    # The 96-byte wire form, built once: every binding factor hashes the list of them.
    _encoded: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.binding) != POINT_BYTES:
            raise InvalidPoint(f"binding commitment must be {POINT_BYTES} bytes")
        encoded = identifier_to_bytes(self.identifier) + self.hiding.to_bytes() + self.binding
        object.__setattr__(self, "_encoded", encoded)

    @property
    def binding_point(self) -> Point:
        return point_from_bytes(self.binding)

    def to_bytes(self) -> bytes:
        """SerializeScalar(id) || SerializeElement(D) || SerializeElement(E): 96 bytes, the
        exact layout of one entry of the RFC's encoded commitment list."""
        return self._encoded

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningCommitments:
        if len(data) != _COMMITMENT_BYTES:
            raise InvalidEncoding(f"commitments must be {_COMMITMENT_BYTES} bytes")
        data = bytes(data)
        identifier = identifier_from_bytes(data[:32])
        hiding_enc = data[32:64]
        # The full DeserializeElement check, called directly: the slice is exactly 32 bytes.
        if not is_valid_point_bytes(hiding_enc):
            raise InvalidCommitment([identifier], "invalid hiding nonce commitment")
        # Every field is checked above and ``data`` is already the canonical encoding (a
        # reduced identifier, a validated point, 32 bytes), so __init__'s re-encoding is skipped.
        out = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(out, "identifier", identifier)
        setattr_(out, "hiding", Point._trusted(hiding_enc))
        setattr_(out, "binding", data[64:96])
        setattr_(out, "_encoded", data)
        return out


class SigningNonces(Secret):
    """A signer's secret nonces for exactly one signature. ``sign`` consumes them: a second
    use raises ``NonceReuse`` (reusing FROST nonces leaks the signing share), the secrets
    are dropped on use, and copies are refused (``Secret``)."""

    __slots__ = ("_binding", "_hiding", "_used", "commitments")

    def __init__(self, hiding: int, binding: int, commitments: SigningCommitments) -> None:
        self._hiding = hiding
        self._binding = binding
        self._used = False
        self.commitments = commitments

    @property
    def used(self) -> bool:
        return self._used

    def _take(self) -> tuple[int, int]:
        if self._used:
            raise NonceReuse("signing nonces were already used for a signature share")
        self._used = True
        taken = self._hiding, self._binding
        self._hiding = self._binding = 0  # dropped: the only reference left is the caller's
        return taken

    def __repr__(self) -> str:
        return f"SigningNonces(identifier={self.commitments.identifier}, <secret>)"


def nonce_generate(secret: int, rng: RandomSource, *, randomness: bytes | None = None) -> int:
    """RFC 9591 4.1: H3(random_bytes(32) || SerializeScalar(secret)).

    Mixing the long-term secret in protects against a weak RNG; ``randomness`` exists only to
    reproduce test vectors.
    """
    if randomness is None:
        randomness = rng.random_bytes(32)
    if len(randomness) != 32:
        raise InvalidParameters("nonce randomness must be 32 bytes")
    return H3(randomness + scalar_to_bytes(secret))


def commit(
    key_package: KeyPackage, rng: RandomSource | None = None
) -> tuple[SigningNonces, SigningCommitments]:
    """Round one: fresh hiding and binding nonces and their commitments."""
    rng = rng or default_random()
    hiding = nonce_generate(key_package.signing_share, rng)
    binding = nonce_generate(key_package.signing_share, rng)
    commitments = SigningCommitments(
        key_package.identifier, base_mul(hiding), base_mul(binding).to_bytes()
    )
    return SigningNonces(hiding, binding, commitments), commitments


# --- signing package ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SigningPackage:
    """The commitment list (sorted by identifier, as the RFC requires) and the message."""

    commitments: tuple[SigningCommitments, ...]
    message: bytes
    _encoded: bytes = field(init=False, repr=False, compare=False)
    # (verifying key encoding) -> R; R is a pure function of the package and the key, so the
    # party holding this object computes it once (e.g. a signing coordinator).
    _memo: dict[bytes, Point] = field(
        init=False, repr=False, compare=False
    )
    # (verifying key encoding) -> binding factors, likewise a pure function of both: a signing
    # coordinator's ``sign`` and ``aggregate`` hash them once.
    _rho: dict[bytes, dict[int, int]] = field(init=False, repr=False, compare=False)
    _ids: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __init__(self, commitments: Iterable[SigningCommitments], message: bytes) -> None:
        ordered = tuple(sorted(commitments, key=lambda c: c.identifier))
        ids = [c.identifier for c in ordered]
        if len(set(ids)) != len(ids):
            raise InvalidParameters("duplicate identifier in the commitment list")
        if len(ids) < 2:
            raise InvalidParameters("a signing package needs at least two signers")
        # encode_group_commitment_list, once per package: every binding factor hashes it.
        self._set(ordered, bytes(message), b"".join(c.to_bytes() for c in ordered))

    def _set(self, ordered: tuple[SigningCommitments, ...], message: bytes, encoded: bytes) -> None:
        object.__setattr__(self, "commitments", ordered)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "_encoded", encoded)
        object.__setattr__(self, "_memo", {})
        object.__setattr__(self, "_rho", {})
        object.__setattr__(self, "_ids", tuple(c.identifier for c in ordered))

    @property
    def identifiers(self) -> tuple[int, ...]:
        return self._ids

    def commitment_of(self, identifier: int) -> SigningCommitments | None:
        for c in self.commitments:
            if c.identifier == identifier:
                return c
        return None

    def to_bytes(self) -> bytes:
        return len(self.commitments).to_bytes(2, "big") + self._encoded + self.message

    @classmethod
    def from_bytes(cls, data: bytes, *, own: SigningCommitments | None = None) -> SigningPackage:
        """Parse and validate a received package. An entry byte-identical to ``own`` (the
        commitments we generated ourselves) is reused instead of re-validated."""
        if len(data) < 2:
            raise InvalidEncoding("signing package too short")
        count = int.from_bytes(data[:2], "big")
        if count < 2:
            raise InvalidEncoding("a signing package needs at least two signers")
        end = 2 + count * _COMMITMENT_BYTES
        if len(data) < end:
            raise InvalidEncoding("signing package truncated")
        own_enc = own.to_bytes() if own is not None else None
        entries: list[SigningCommitments] = []
        previous = 0
        for k in range(count):
            chunk = data[2 + k * _COMMITMENT_BYTES : 2 + (k + 1) * _COMMITMENT_BYTES]
            if own is not None and chunk == own_enc:
                entry = own
            else:
                entry = SigningCommitments.from_bytes(chunk)
            if entry.identifier <= previous:
                # The RFC's list is sorted; a reordered list would change every binding factor.
                raise InvalidEncoding("commitment list not sorted by identifier or duplicated")
            previous = entry.identifier
            entries.append(entry)
        # Sorted, distinct and >= 2 entries as checked above; the list is the received bytes.
        package = object.__new__(cls)
        package._set(tuple(entries), bytes(data[end:]), bytes(data[2:end]))
        return package


def binding_factors(verifying_key: Point, package: SigningPackage) -> dict[int, int]:
    """compute_binding_factors (RFC 9591 4.4): ρ_i = H1(PK || H4(msg) || H5(list) || id)."""
    return dict(_binding_factors(verifying_key.to_bytes(), package))


def _binding_factors(vk_enc: bytes, package: SigningPackage) -> dict[int, int]:
    """``binding_factors``, computed once per package and key (read-only: shared)."""
    cached = package._rho.get(vk_enc)
    if cached is not None:
        return cached
    prefix = vk_enc + H4(package.message) + H5(package._encoded)
    # The common prefix is hashed once; each participant only adds its identifier.
    base = hashlib.sha512(_RHO_PREFIX + prefix)
    out: dict[int, int] = {}
    for c in package.commitments:
        h = base.copy()
        h.update(c._encoded[:32])  # SerializeScalar(identifier), as the entry carries it
        out[c.identifier] = scalar_from_wide(h.digest())
    package._rho[vk_enc] = out
    return out


def binding_factor_input(verifying_key: Point, package: SigningPackage, identifier: int) -> bytes:
    """The RFC's rho_input for one participant (exposed for the test vectors)."""
    return (
        verifying_key.to_bytes()
        + H4(package.message)
        + H5(package._encoded)
        + identifier_to_bytes(identifier)
    )


def _binding_nonce(c: SigningCommitments, rho: dict[int, int]) -> Point:
    """ρ_j·E_j, validating the received E_j in the same libsodium call."""
    try:
        return mul_received(rho[c.identifier], c.binding)
    except InvalidPoint:
        raise InvalidCommitment([c.identifier], "invalid binding nonce commitment") from None


def _commitment_share(c: SigningCommitments, rho: dict[int, int]) -> Point:
    """R_j = D_j + ρ_j·E_j: one signer's part of the group commitment (for share checks)."""
    return add(c.hiding, _binding_nonce(c, rho))


def _group_commitment(
    package: SigningPackage,
    vk_enc: bytes,
    rho: dict[int, int],
    own: tuple[int, Point] | None = None,
) -> Point:
    """R = Σ_j (D_j + ρ_j·E_j) (compute_group_commitment), summed in one pass.

    ``own`` = (our identifier, our R_i computed as (d_i + ρ_i·e_i)·G from our secret nonces:
    the same point, one base multiplication instead of a validating one plus an addition).
    The per-signer R_j are not kept: only share verification needs them, and it recomputes
    the ones it checks (``_commitment_share``).
    """
    cached = package._memo.get(vk_enc)
    if cached is not None:
        return cached
    points: list[Point] = []
    products: list[tuple[int, bytes]] = []
    product_ids: list[int] = []
    for c in package.commitments:
        if own is not None and c.identifier == own[0]:
            points.append(own[1])
        else:
            points.append(c.hiding)
            products.append((rho[c.identifier], c.binding))
            product_ids.append(c.identifier)
    try:
        total = sum_with_products(points, products)
    except InvalidPointAt as exc:
        raise InvalidCommitment([product_ids[exc.index]], "invalid binding nonce commitment") from None
    if total.is_identity:
        raise CryptoError("group commitment is the identity; restart with fresh nonces")
    package._memo[vk_enc] = total
    return total


def group_commitment(verifying_key: Point, package: SigningPackage) -> Point:
    """compute_group_commitment as the RFC writes it (any party can run it)."""
    vk_enc = verifying_key.to_bytes()
    return _group_commitment(package, vk_enc, _binding_factors(vk_enc, package))


def _challenge(r: Point, verifying_key: Point, message: bytes) -> int:
    return H2(r.to_bytes() + verifying_key.to_bytes() + message)


# --- round two ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignatureShare:
    identifier: int
    share: int

    def to_bytes(self) -> bytes:
        return identifier_to_bytes(self.identifier) + scalar_to_bytes(self.share)

    @classmethod
    def from_bytes(cls, data: bytes) -> SignatureShare:
        if len(data) != 2 * SCALAR_BYTES:
            raise InvalidEncoding("signature share must be 64 bytes")
        identifier = identifier_from_bytes(data[:32])
        try:
            return cls(identifier, scalar_from_bytes(data[32:]))
        except InvalidEncoding as exc:
            raise InvalidSignatureShare([identifier], f"malformed signature share: {exc}") from None


def sign(package: SigningPackage, nonces: SigningNonces, key_package: KeyPackage) -> SignatureShare:
    """Round two: z_i = d_i + e_i·ρ_i + λ_i·s_i·c (RFC 9591 5.2). Consumes ``nonces``."""
    me = key_package.identifier
    mine = package.commitment_of(me)
    if mine is None or mine._encoded != nonces.commitments._encoded:
        raise CommitmentMismatch([me], "the signing package does not carry our commitments")
    if len(package.commitments) < key_package.min_signers:
        raise InvalidParameters(
            f"{len(package.commitments)} signers, need at least {key_package.min_signers}"
        )
    d, e = nonces._take()  # burnt even if a check below fails: never sign twice with them
    vk = key_package.verifying_key
    vk_enc = vk.to_bytes()
    rho = _binding_factors(vk_enc, package)
    own_nonce = (d + e * rho[me]) % L
    r = _group_commitment(package, vk_enc, rho, own=(me, base_mul(own_nonce)))
    lam = lagrange_at_zero(package.identifiers, me)
    c = _challenge(r, vk, package.message)
    return SignatureShare(me, (own_nonce + lam * key_package.signing_share * c) % L)


def _share_ok(share: SignatureShare, verifying_share: Point, r_i: Point, c: int, lam: int) -> bool:
    return base_mul(share.share) == add(r_i, mul(c * lam % L, verifying_share))


def verify_signature_share(
    share: SignatureShare, package: SigningPackage, public_key_package: PublicKeyPackage
) -> None:
    """RFC 9591 5.4: z_i·G == R_i + (c·λ_i)·Y_i; raises ``InvalidSignatureShare``."""
    i = share.identifier
    y_i = public_key_package.verifying_shares.get(i)
    if y_i is None or package.commitment_of(i) is None:
        raise InvalidSignatureShare([i], "share from a participant outside the signing set")
    vk = public_key_package.verifying_key
    vk_enc = vk.to_bytes()
    rho = _binding_factors(vk_enc, package)
    r = _group_commitment(package, vk_enc, rho)
    c = _challenge(r, vk, package.message)
    mine = package.commitment_of(i)
    assert mine is not None  # checked above
    r_i = _commitment_share(mine, rho)
    if not _share_ok(share, y_i, r_i, c, lagrange_at_zero(package.identifiers, i)):
        raise InvalidSignatureShare([i], "signature share does not verify")


def aggregate(
    package: SigningPackage,
    shares: Iterable[SignatureShare],
    public_key_package: PublicKeyPackage,
) -> bytes:
    """Sum the shares into an Ed25519 signature (R || z) and check it.

    The aggregate is verified first (one Ed25519 verification); only if it fails is every
    share verified, and the senders of failing shares are raised as culprits. This is the
    same identifiable abort as verifying every share up front, at a fraction of the cost.
    """
    by_id: dict[int, SignatureShare] = {}
    for s in shares:
        if s.identifier in by_id:
            raise InvalidParameters(f"two signature shares from {s.identifier}")
        by_id[s.identifier] = s
    ids = package.identifiers
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise InvalidSignatureShare(missing, "no signature share received")
    extra = [i for i in by_id if i not in ids]
    if extra:
        raise InvalidSignatureShare(extra, "signature share from outside the signing set")
    if len(ids) < public_key_package.min_signers:
        raise InvalidParameters(
            f"{len(ids)} signers, need at least {public_key_package.min_signers}"
        )
    unknown = [i for i in ids if i not in public_key_package.verifying_shares]
    if unknown:
        raise InvalidParameters(f"signers {unknown} are not in the public key package")
    vk = public_key_package.verifying_key
    vk_enc = vk.to_bytes()
    rho = _binding_factors(vk_enc, package)
    r = _group_commitment(package, vk_enc, rho)
    z = sum(by_id[i].share for i in ids) % L
    signature = r.to_bytes() + scalar_to_bytes(z)
    if sodium_verify(signature, package.message, vk_enc):
        return signature
    c = _challenge(r, vk, package.message)
    culprits = [
        c_i.identifier
        for c_i in package.commitments
        if not _share_ok(
            by_id[c_i.identifier],
            public_key_package.verifying_shares[c_i.identifier],
            _commitment_share(c_i, rho),
            c,
            lagrange_at_zero(ids, c_i.identifier),
        )
    ]
    if not culprits:  # pragma: no cover - every share verified, so the sum must verify
        raise CryptoError("internal error: aggregate invalid although every share verifies")
    raise InvalidSignatureShare(culprits, "signature share does not verify")


def verify(verifying_key: Point | bytes, message: bytes, signature: bytes) -> None:
    """Standard Ed25519 verification (``cryptography``); raises ``InvalidSignature``."""
    raw = verifying_key.to_bytes() if isinstance(verifying_key, Point) else verifying_key
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, message)
    except (_CryptographyInvalidSignature, ValueError) as exc:
        raise InvalidSignature("signature does not verify under this key") from exc
