"""Benchmark of runtime.crypto: FROST signing against the libsodium floor, DKG, DKD.

Run: ``.venv/bin/python -m bench.crypto`` (about 10-20 s). Prints human-readable lines and a
final JSON line.

The floor is what one FROST signature needs in libsodium point operations alone, measured in
this same run through ``nacl.bindings``: 2t base multiplications (round-one commitments),
t(t+1) variable-base multiplications and 2t(t+1) point additions. ``ratio`` is our signing
rate divided by the floor rate (>= 1 means faster than the floor's operation count).

Signing runs every party in one process: each of the t signers generates nonces, validates the
others' commitments and computes its own group commitment, and signs; the coordinator (signer
one, reusing its own validated session, as a participating coordinator does) aggregates,
validates every share and checks the aggregate signature. A separate non-signing coordinator
(which also validates all commitments and computes the group commitment) is reported too.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable

from nacl import bindings as nb

from runtime.crypto import dkd, dkg, frost
from runtime.crypto.hazmat.ed25519 import L
from runtime.crypto.rand import SeededRandom


def _best_per_op(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Seconds per call, best of ``repeat`` batches of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def measure_primitives() -> dict[str, float]:
    s = (int.from_bytes(os.urandom(64), "little") % L).to_bytes(32, "little")
    s2 = (int.from_bytes(os.urandom(64), "little") % L).to_bytes(32, "little")
    p = nb.crypto_scalarmult_ed25519_base_noclamp(s)
    q = nb.crypto_scalarmult_ed25519_base_noclamp(s2)
    return {
        "base_mult_us": 1e6
        * _best_per_op(lambda: nb.crypto_scalarmult_ed25519_base_noclamp(s), 2000),
        "var_mult_us": 1e6 * _best_per_op(lambda: nb.crypto_scalarmult_ed25519_noclamp(s, p), 1000),
        "add_us": 1e6 * _best_per_op(lambda: nb.crypto_core_ed25519_add(p, q), 2000),
    }


def floor_us(prims: dict[str, float], t: int) -> float:
    return (
        2 * t * prims["base_mult_us"]
        + t * (t + 1) * prims["var_mult_us"]
        + 2 * t * (t + 1) * prims["add_us"]
    )


def sign_once(
    kps: list[frost.KeyPackage],
    pkp: frost.PublicKeyPackage,
    message: bytes,
    rng: SeededRandom,
    separate_coordinator: bool,
) -> bytes:
    round1 = [frost.commit(kp, rng) for kp in kps]
    package = frost.SigningPackage(tuple(c for _, c in round1), message)
    sessions = []
    shares = []
    for kp, (nonces, _) in zip(kps, round1, strict=True):
        session = frost.prepare(package, kp.group_public_key, own=nonces)
        sessions.append(session)
        shares.append(frost.sign(session, nonces, kp))
    coordinator = (
        frost.prepare(package, pkp.group_public_key) if separate_coordinator else sessions[0]
    )
    return frost.aggregate(coordinator, shares, pkp)


def bench_signing(
    t: int, n: int, prims: dict[str, float], duration: float = 2.0
) -> dict[str, float]:
    rng = SeededRandom(f"bench-{t}-of-{n}")
    dealt = frost.trusted_dealer_keygen(t, n, rng)
    kps = list(dealt.key_packages[:t])
    message = b"minuet benchmark message"
    sig = sign_once(kps, dealt.public_key_package, message, rng, False)
    frost.verify_signature(dealt.public_key_package.group_public_key, message, sig)
    out: dict[str, float] = {}
    for label, separate in (("signer_coordinator", False), ("separate_coordinator", True)):
        count = max(10, int(duration / (floor_us(prims, t) * 1e-6) / 4))
        per_sig = _best_per_op(
            lambda s=separate: sign_once(kps, dealt.public_key_package, message, rng, s),
            count,
            repeat=4,
        )
        out[f"{label}_us"] = per_sig * 1e6
        out[f"{label}_ratio"] = floor_us(prims, t) / (per_sig * 1e6)
    out["floor_us"] = floor_us(prims, t)
    return out


def bench_dkg(t: int, n: int) -> float:
    rng = SeededRandom(f"dkg-{t}-of-{n}")
    ids = list(range(1, n + 1))

    def run() -> None:
        r1 = {i: dkg.round1(i, t, n, rng) for i in ids}
        r2 = {
            i: dkg.round2(r1[i][0], {j: r1[j][1] for j in ids if j != i}) for i in ids
        }
        for i in ids:
            dkg.finish(
                r2[i][0],
                {j: r1[j][1] for j in ids if j != i},
                {j: r2[j][1][i] for j in ids if j != i},
            )

    return _best_per_op(run, 3, repeat=3)


def bench_dkd(t: int, n: int) -> dict[str, float]:
    dealt = frost.trusted_dealer_keygen(t, n, SeededRandom("dkd"))
    kp = dealt.key_packages[0]
    pkp = dealt.public_key_package
    counter = iter(range(10**9))
    share = _best_per_op(
        lambda: dkd.derive_key_package(kp, b"ctx-%d" % next(counter)), 300, repeat=3
    )
    public = _best_per_op(
        lambda: dkd.derive_public_key_package(pkp, b"ctx-%d" % next(counter)), 100, repeat=3
    )
    return {"derive_key_package_us": share * 1e6, "derive_public_key_package_us": public * 1e6}


def main() -> int:
    t_start = time.perf_counter()
    prims = measure_primitives()
    print(
        "libsodium floor primitives: base mult {base_mult_us:.1f} us, variable-base mult "
        "{var_mult_us:.1f} us, point add {add_us:.1f} us".format(**prims)
    )
    result: dict[str, object] = {"primitives_us": prims}
    for t, n in ((2, 3), (3, 5)):
        r = bench_signing(t, n, prims)
        result[f"frost_{t}of{n}"] = r
        print(
            f"FROST {t}-of-{n} full signing: {r['signer_coordinator_us']:.0f} us/sig "
            f"({1e6 / r['signer_coordinator_us']:.0f} sig/s); floor {r['floor_us']:.0f} us "
            f"({1e6 / r['floor_us']:.0f} sig/s); ratio {r['signer_coordinator_ratio']:.2f}x"
        )
        print(
            f"  with a separate non-signing coordinator: {r['separate_coordinator_us']:.0f} "
            f"us/sig; ratio {r['separate_coordinator_ratio']:.2f}x"
        )
    dkg_s = bench_dkg(3, 5)
    result["dkg_3of5_ms"] = dkg_s * 1e3
    print(f"DKG 3-of-5, all 5 parties in one process: {dkg_s * 1e3:.1f} ms")
    d = bench_dkd(3, 5)
    result["dkd"] = d
    print(
        f"DKD: derive one key package {d['derive_key_package_us']:.0f} us; "
        f"derive public key package (5 shares) {d['derive_public_key_package_us']:.0f} us"
    )
    result["total_s"] = time.perf_counter() - t_start
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
