"""FROST(Ed25519, SHA-512) threshold signing, end to end: the generated FrostSign roles
(protocols/threshold/frost_sign.yaml) carrying real RFC 9591 rounds from runtime.crypto.

The Signer family is the signing set: member ``i`` holds the key package with identifier
``signers[i]`` (by default ``i + 1``). The coordinator aggregates; a share that does not verify makes it select
``abort`` and name the culprits, which every signer learns (identifiable abort).

``python -m examples.frost_signing`` signs one message 2-of-3 in memory and verifies the
result as a plain Ed25519 signature.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import assert_never

import trio

from generated.threshold import frost_sign as fs
from runtime.contract import Endpoint
from runtime.crypto import frost
from runtime.crypto.errors import (
    CryptoError,
    IdentifiedFault,
    InvalidCommitment,
    InvalidSignatureShare,
)
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import RandomSource, default_random
from runtime.errors import RemoteViolation
from runtime.memory import RoleFn, RoleResult, memory_session
from runtime.middleware import Middleware

# A signer program may corrupt its share (to exercise identifiable abort in tests).
ShareFilter = Callable[[bytes], bytes]


def _first_identifiers(count: int) -> list[int]:
    return list(range(1, count + 1))


async def coordinator(
    ep: Endpoint, public: PublicKeyPackage, message: bytes, epoch: int = 0,
    signers: Sequence[int] | None = None,
) -> bytes | list[int]:
    """Run one signing session; returns the signature, or the culprits of an abort.

    ``signers[i]`` is the identifier of member ``i`` of the Signer family."""
    ids = list(signers) if signers is not None else _first_identifiers(ep.family_size("Signer"))
    s1 = await fs.start_coordinator(ep).send_sign_request(
        fs.SignRequest(epoch=epoch, message=message, key_id="group")
    )
    commitments, s2 = await s1.recv_commitment()
    # The RFC's commitment list is sorted by identifier, whatever order the members are in.
    entries = sorted(
        (fs.CommitmentEntry(identifier=ids[i], hiding=c.hiding, binding=c.binding)
         for i, c in commitments.items()),
        key=lambda e: e.identifier,
    )
    # A malformed commitment is found now (its sender is named below), but the protocol has
    # no abort before the shares: the package still goes out, and the abort follows them.
    parsed, bad = _parse_commitments(entries)
    s3 = await s2.send_signing_package(fs.SigningPackage(message=message, commitments=entries))
    shares, s4 = await s3.recv_signature_share()
    try:
        if bad:
            raise InvalidCommitment(bad, "malformed nonce commitment")
        # Built from the entries parsed above: every point is validated once, not again.
        package = frost.SigningPackage(parsed, message)
        signature = frost.aggregate(
            package,
            [frost.SignatureShare.from_bytes(ids[i].to_bytes(32, "little") + sh.share)
             for i, sh in sorted(shares.items())],
            public,
        )
    except IdentifiedFault as e:
        s6 = await s4.select_abort()
        await s6.send_abort(fs.Abort(culprits=sorted(e.culprits), reason=str(e)))
        return sorted(e.culprits)
    s5 = await s4.select_done()
    await s5.send_signature(fs.Signature(signature=fs.Bytes64(signature)))
    return signature


async def signer(
    ep: Endpoint, key: KeyPackage, rng: RandomSource | None = None,
    tamper: ShareFilter | None = None,
) -> bytes | list[int]:
    """Take part in one signing session; returns the signature or the abort's culprits."""
    request, s1 = await fs.start_signer(ep).recv_sign_request()
    nonces, mine = frost.commit(key, rng or default_random())
    s2 = await s1.send_commitment(
        fs.Commitment(hiding=fs.Bytes32(mine.hiding.to_bytes()), binding=fs.Bytes32(mine.binding))
    )
    received, s3 = await s2.recv_signing_package()
    if received.message != request.message:
        raise RemoteViolation(
            "Coordinator", "signing package", "the requested message", "another message"
        )
    try:
        package = frost.SigningPackage.from_bytes(
            _package_bytes(received.commitments, received.message), own=mine
        )
    except IdentifiedFault as e:
        # Another signer's malformed commitment: nothing can be signed. The protocol still
        # wants a share (a zero share reveals nothing); the coordinator aborts naming the
        # same culprit, and our own finding stands whatever it says.
        s4 = await s3.send_signature_share(fs.SignatureShare(share=fs.Bytes32(bytes(32))))
        match await s4.offer():
            case fs.Signer_S4_Signature(msg=_):
                pass
            case fs.Signer_S4_Abort(msg=_):
                pass
            case other:
                assert_never(other)
        return sorted(e.culprits)
    except CryptoError as e:  # the list itself (order, duplicates, length) is the coordinator's
        raise RemoteViolation("Coordinator", "signing package", "a valid commitment list", str(e)) from None
    share = frost.sign(package, nonces, key).to_bytes()[32:]
    s4 = await s3.send_signature_share(
        fs.SignatureShare(share=fs.Bytes32(tamper(share) if tamper else share))
    )
    match await s4.offer():
        case fs.Signer_S4_Signature(msg=result):
            frost.verify(key.verifying_key, request.message, result.signature)
            return result.signature
        case fs.Signer_S4_Abort(msg=abort):
            return abort.culprits
        case other:
            assert_never(other)


def _parse_commitments(
    entries: list[fs.CommitmentEntry],
) -> tuple[list[frost.SigningCommitments], list[int]]:
    """The entries parsed (hiding commitment validated), and the identifiers whose hiding or
    binding commitment is not a valid group element."""
    parsed = []
    bad = []
    for e in entries:
        try:
            entry = frost.SigningCommitments.from_bytes(
                e.identifier.to_bytes(32, "little") + e.hiding + e.binding
            )
            _ = entry.binding_point  # decoding it is the check
        except CryptoError:
            bad.append(e.identifier)
        else:
            parsed.append(entry)
    return parsed, bad


def _package_bytes(entries: list[fs.CommitmentEntry], message: bytes) -> bytes:
    # The wire form runtime.crypto.frost parses and validates (every point checked).
    body = b"".join(
        e.identifier.to_bytes(32, "little") + e.hiding + e.binding for e in entries
    )
    return len(entries).to_bytes(2, "big") + body + message


def _signer_program(key: KeyPackage, rng: RandomSource, tamper: ShareFilter | None) -> RoleFn:
    async def run(ep: Endpoint) -> bytes | list[int]:
        return await signer(ep, key, rng, tamper)

    return run


async def sign_in_memory(
    t: int, n: int, message: bytes, rng: RandomSource | None = None,
    tamper: dict[int, ShareFilter] | None = None,
) -> dict[str, bytes | list[int]]:
    """Deal a t-of-n key, then sign ``message`` with the first t holders as the signing set."""
    rng = rng or default_random()
    keys, public, _ = trusted_dealer_keygen(t, n, rng)
    return await sign_with_keys(keys, public, message, rng, tamper)


async def sign_with_keys(
    keys: Mapping[int, KeyPackage], public: PublicKeyPackage, message: bytes,
    rng: RandomSource | None = None, tamper: dict[int, ShareFilter] | None = None,
    signers: Sequence[int] | None = None,
) -> dict[str, bytes | list[int]]:
    """Sign ``message`` with the holders of ``signers`` (default identifiers 1..t), from a
    dealer or the DKG; raises the first error a role raised."""
    results = await run_signing(keys, public, message, rng, tamper, signers)
    return {name: r.unwrap() for name, r in results.items()}


async def signature_of(
    keys: Mapping[int, KeyPackage], public: PublicKeyPackage, message: bytes,
    rng: RandomSource | None = None, signers: Sequence[int] | None = None,
) -> bytes:
    """The signature of a signing session that must succeed (an abort raises its culprits)."""
    result = (await sign_with_keys(keys, public, message, rng, signers=signers))["Coordinator"]
    if not isinstance(result, bytes):
        raise InvalidSignatureShare(result, "the signing session aborted")
    return result


async def run_signing(
    keys: Mapping[int, KeyPackage], public: PublicKeyPackage, message: bytes,
    rng: RandomSource | None = None, tamper: dict[int, ShareFilter] | None = None,
    signers: Sequence[int] | None = None, epoch: int = 0,
    middleware: Sequence[Middleware] = (),
) -> dict[str, RoleResult]:
    """One signing session in memory; what every role returned or raised."""
    rng = rng or default_random()
    ids = list(signers) if signers is not None else _first_identifiers(public.min_signers)
    tamper = tamper or {}
    async with memory_session(
        fs.PROTOCOL, families={"Signer": len(ids)}, epoch=epoch, middleware=middleware,
        capabilities={"Coordinator": {"frost_coordinate"}},
    ) as net:
        roles: dict[str, RoleFn] = {
            "Coordinator": lambda ep: coordinator(ep, public, message, epoch, ids)
        }
        for i, ident in enumerate(ids):
            roles[f"Signer[{i}]"] = _signer_program(keys[ident], rng, tamper.get(i))
        return await net.run(roles)


async def main() -> int:
    message = b"minuet: threshold signed"
    results = await sign_in_memory(2, 3, message)
    signature = results["Coordinator"]
    assert isinstance(signature, bytes)
    print(f"2-of-3 FROST signature over {message!r}: {signature.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
