"""Flagship check: FROST signing through the generated FrostSign roles with real crypto."""

from __future__ import annotations

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import frost_signing
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom


@pytest.mark.parametrize(("t", "n"), [(2, 3), (3, 5)])
async def test_threshold_signature_verifies_as_ed25519(t: int, n: int) -> None:
    message = f"{t}-of-{n}".encode()
    with trio.fail_after(30):
        results = await frost_signing.sign_in_memory(t, n, message, DeterministicRandom(b"e2e"))
    signature = results["Coordinator"]
    assert isinstance(signature, bytes) and len(signature) == 64
    # Every signer got the same signature, and it is a plain Ed25519 signature under the
    # group key the same deterministic dealer produces.
    assert all(results[f"Signer[{i}]"] == signature for i in range(t))
    _, public, _ = trusted_dealer_keygen(t, n, DeterministicRandom(b"e2e"))
    Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(signature, message)


async def test_bad_share_aborts_naming_its_sender() -> None:
    def flip(share: bytes) -> bytes:
        return bytes([share[0] ^ 1]) + share[1:]

    with trio.fail_after(30):
        results = await frost_signing.sign_in_memory(
            3, 5, b"tampered", DeterministicRandom(b"abort"), tamper={1: flip}
        )
    # Member 1 holds identifier 2: the coordinator and every signer learn that culprit.
    assert results == {"Coordinator": [2], "Signer[0]": [2], "Signer[1]": [2], "Signer[2]": [2]}
