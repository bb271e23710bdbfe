"""Commit-reveal, the coordinator lottery and sealing to a participant."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.crypto import commit, seal
from runtime.crypto.errors import (
    InvalidParameters,
    InvalidReveal,
    InvalidShare,
    MissingReveal,
    RevealError,
    SealError,
)
from runtime.crypto.hazmat.group import L
from runtime.crypto.rand import DeterministicRandom

DOMAIN, SESSION = b"coordinator-election", b"session-7"


def committed(
    n: int, seed: int, epoch: int = 0
) -> tuple[dict[int, bytes], dict[int, commit.Opening]]:
    rng = DeterministicRandom(seed)
    commitments: dict[int, bytes] = {}
    openings: dict[int, commit.Opening] = {}
    for p in range(1, n + 1):
        commitments[p], openings[p] = commit.commit(
            DOMAIN, SESSION, epoch, p, rng.random_bytes(32), rng
        )
    return commitments, openings


def test_commit_reveal_round_trip_and_binding() -> None:
    commitments, openings = committed(4, 1)
    values = commit.verify_reveals(DOMAIN, SESSION, 0, commitments, openings)
    assert values == {p: o.value for p, o in openings.items()}
    # A commitment does not open under another domain, session, epoch or participant.
    o = openings[1]
    for args in (
        (b"other", SESSION, 0, 1),
        (DOMAIN, b"other", 0, 1),
        (DOMAIN, SESSION, 1, 1),
        (DOMAIN, SESSION, 0, 2),
    ):
        assert commit.commitment_digest(*args, o.value, o.nonce) != commitments[1]
    assert str(o.nonce) not in repr(o)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(2, 8),
    st.data(),
)
def test_commit_reveal_culprits(n: int, data: st.DataObject) -> None:
    commitments, openings = committed(n, data.draw(st.integers(0, 2**32)))
    ids = list(range(1, n + 1))
    missing = data.draw(st.sets(st.sampled_from(ids)))
    wrong = data.draw(st.sets(st.sampled_from(ids))) - missing
    reveals = {}
    for p in ids:
        if p in missing:
            continue
        o = openings[p]
        reveals[p] = commit.Opening(o.value + b"!", o.nonce) if p in wrong else o
    if not missing and not wrong:
        commit.verify_reveals(DOMAIN, SESSION, 0, commitments, reveals)
        return
    with pytest.raises(RevealError) as e:
        commit.verify_reveals(DOMAIN, SESSION, 0, commitments, reveals)
    assert isinstance(e.value, MissingReveal if missing else InvalidReveal)
    assert e.value.missing == tuple(sorted(missing))
    assert e.value.mismatched == tuple(sorted(wrong))
    assert e.value.culprits == tuple(sorted(missing | wrong))


def test_reveal_without_commitment_is_a_culprit() -> None:
    commitments, openings = committed(3, 2)
    reveals = dict(openings)
    reveals[9] = openings[1]
    with pytest.raises(InvalidReveal) as e:
        commit.verify_reveals(DOMAIN, SESSION, 0, commitments, reveals)
    assert e.value.culprits == (9,)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 1000), st.integers(0, 2**32), st.integers(0, 100))
def test_lottery_in_range_and_deterministic(n: int, seed: int, epoch: int) -> None:
    _, openings = committed(3, seed)
    values = {p: o.value for p, o in openings.items()}
    k = commit.lottery(DOMAIN, SESSION, epoch, values, n)
    assert 0 <= k < n
    assert commit.lottery(DOMAIN, SESSION, epoch, dict(reversed(values.items())), n) == k


def test_lottery_epoch_gives_fresh_draw_and_is_roughly_uniform() -> None:
    _, openings = committed(4, 3)
    values = {p: o.value for p, o in openings.items()}
    draws = [commit.lottery(DOMAIN, SESSION, e, values, 7) for e in range(7000)]
    counts = Counter(draws)
    assert set(counts) == set(range(7))
    # Deterministic inputs: a chi-square smoke test (6 dof; 22.46 is the 0.1% critical value).
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts.values())
    assert chi2 < 22.46
    assert len({commit.lottery(DOMAIN, SESSION, e, values, 2**60) for e in range(20)}) == 20
    with pytest.raises(InvalidParameters):
        commit.lottery(DOMAIN, SESSION, 0, values, 0)
    with pytest.raises(InvalidParameters):
        commit.lottery(DOMAIN, SESSION, 0, {}, 3)


# --- seal ------------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200), st.binary(max_size=20), st.binary(max_size=20), st.data())
def test_seal_round_trip_and_tamper(
    plaintext: bytes, aad: bytes, context: bytes, data: st.DataObject
) -> None:
    rng = DeterministicRandom(data.draw(st.integers(0, 2**32)))
    alice, bob, eve = (seal.SealKeyPair.generate(rng) for _ in range(3))
    box = seal.seal(alice, bob.public_key, plaintext, aad=aad, context=context, rng=rng)
    assert seal.open_sealed(bob, alice.public_key, box, aad=aad, context=context) == plaintext
    k = data.draw(st.integers(0, len(box) - 1))
    tampered = bytearray(box)
    tampered[k] ^= 1 << data.draw(st.integers(0, 7))
    cases = [
        (bob, alice.public_key, bytes(tampered), aad, context),
        (bob, alice.public_key, box, aad + b"x", context),
        (bob, alice.public_key, box, aad, context + b"x"),
        (bob, eve.public_key, box, aad, context),  # wrong sender
        (eve, alice.public_key, box, aad, context),  # wrong recipient
        (bob, alice.public_key, box[:40], aad, context),  # truncated
    ]
    for recipient, sender_pk, sealed, a, c in cases:
        with pytest.raises(SealError):
            seal.open_sealed(recipient, sender_pk, sealed, aad=a, context=c)


def test_seal_share_and_low_order_keys() -> None:
    rng = DeterministicRandom("seal")
    alice, bob = seal.SealKeyPair.generate(rng), seal.SealKeyPair.generate(rng)
    box = seal.seal_share(alice, bob.public_key, L - 1, context=b"dkg", rng=rng)
    assert seal.open_share(bob, alice.public_key, box, context=b"dkg", sender_id=1) == L - 1
    bad = seal.seal(alice, bob.public_key, L.to_bytes(32, "little"), context=b"dkg", rng=rng)
    with pytest.raises(InvalidShare) as e:
        seal.open_share(bob, alice.public_key, bad, context=b"dkg", sender_id=1)
    assert e.value.culprits == (1,)
    # An all-zero (low-order) ephemeral key is refused as a failed open, not a ValueError.
    forged = bytes(32) + box[32:]
    with pytest.raises(SealError):
        seal.open_sealed(bob, alice.public_key, forged, context=b"dkg")
    assert "private_key" not in repr(alice)
