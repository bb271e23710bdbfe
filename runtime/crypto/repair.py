"""Share repair (the repairable threshold scheme of ZcashFoundation/frost ``keys::repairable``).

A set H of at least t helpers restores the lost share of participant r without anyone learning
more than their own data::

    step 1, helper i:   ξ_i = λ_i^H(r)·s_i, split into |H| random deltas summing to ξ_i;
                        send delta_j to helper j (sealed)
    step 2, helper j:   σ_j = Σ_i delta_ij; send σ_j to r (sealed)
    step 3, r:          s_r = Σ_j σ_j = Σ_i λ_i^H(r)·s_i = f(r)

The result is checked against r's verifying share in the public key package.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .errors import InvalidParameters, InvalidShare
from .hazmat.group import L, base_mul, random_nonzero_scalar
from .hazmat.poly import check_identifiers
from .keys import KeyPackage, PublicKeyPackage
from .rand import RandomSource, default_random

__all__ = [
    "lagrange_at",
    "repair_step_1",
    "repair_step_2",
    "repair_step_3",
    "repaired_key_package",
]


def lagrange_at(ids: Sequence[int], i: int, x: int) -> int:
    """λ_i^ids(x): the Lagrange basis polynomial of ``i`` over ``ids`` evaluated at ``x``."""
    check_identifiers(ids)
    if i not in ids:
        raise InvalidParameters(f"{i} is not in the interpolation set")
    num = 1
    den = 1
    for j in ids:
        if j != i:
            num = num * (x - j) % L
            den = den * (i - j) % L
    return num * pow(den, -1, L) % L


def repair_step_1(
    helpers: Sequence[int],
    key_package: KeyPackage,
    participant: int,
    rng: RandomSource | None = None,
) -> dict[int, int]:
    """Helper ``key_package.identifier``: {helper j: delta to send to j}."""
    rng = rng or default_random()
    if participant in helpers:
        raise InvalidParameters("the participant to repair cannot be a helper")
    if len(helpers) < key_package.min_signers:
        raise InvalidParameters(f"need at least {key_package.min_signers} helpers")
    xi = lagrange_at(helpers, key_package.identifier, participant) * key_package.signing_share
    ordered = sorted(helpers)
    deltas = {j: random_nonzero_scalar(rng) for j in ordered[:-1]}
    deltas[ordered[-1]] = (xi - sum(deltas.values())) % L
    return deltas


def repair_step_2(deltas: Iterable[int]) -> int:
    """Helper j: σ_j = Σ of the deltas it received."""
    return sum(deltas) % L


def repair_step_3(sigmas: Iterable[int]) -> int:
    """Participant r: its share is Σ σ_j (check it with ``repaired_key_package``)."""
    return sum(sigmas) % L


def repaired_key_package(
    participant: int, sigmas: Mapping[int, int], public_key_package: PublicKeyPackage
) -> KeyPackage:
    """Sum the helpers' σ_j and check the result against the published verifying share."""
    share = repair_step_3(sigmas.values())
    expected = public_key_package.verifying_shares.get(participant)
    if expected is None:
        raise InvalidParameters(f"{participant} is not in the public key package")
    if base_mul(share) != expected:
        # σ values are unverifiable individually; the helpers as a group are suspects.
        raise InvalidShare(sigmas.keys(), "repaired share does not match the verifying share")
    return KeyPackage(
        participant,
        share,
        expected,
        public_key_package.verifying_key,
        public_key_package.min_signers,
    )
