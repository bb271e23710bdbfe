"""Benchmark of runtime.crypto: FROST signing against the libsodium floor, DKG and DKD.

Run: ``.venv/bin/python -m bench.crypto`` (about 30 s). Prints human-readable lines and a
final JSON line.

The floor is what one FROST signature costs in libsodium point operations alone, measured in
this same run through ``nacl.bindings``: 2t base multiplications, t(t+1) variable-base
multiplications and 2t(t+1) additions. ``ratio_to_floor`` = floor time / our time per
signature; ``ratio_to_work`` = the libsodium work our signature does / our time, and
``python_overhead_pct`` the rest as a share of that work. Every figure is the median of
interleaved repetitions (``bench.harness``), with min and max; the JSON keeps them all.

Every party runs in this process but only exchanges bytes, and parses (validates) everything
it receives itself:

* round one: each of the t signers draws nonces and sends its commitments (bytes);
* the coordinator parses every commitment and sends the signing package (bytes);
* round two: each signer parses the package, recomputes the binding factors and the group
  commitment on its own and sends its signature share (bytes);
* the coordinator parses the shares, computes the group commitment and aggregates; the
  aggregate is checked with one Ed25519 verification (every share would be checked, naming
  culprits, if it failed).

Two deployments are timed: ``separate`` (the coordinator is a (t+1)-th party that computes
the group commitment itself: t+1 parties each compute R, as in the floor's count) and
``signer`` (signer 1 is also the coordinator and reuses the group commitment it computed).
``signer`` is Minuet's deployment: there is no fixed coordinator, one of the signers is
elected by the commit-reveal lottery.

The floor leaves out work RFC 9591 makes mandatory: validating every received hiding
commitment (t² ``is_valid_point`` calls with a separate coordinator) and the coordinator's
verification of the aggregate. ``libsodium_work`` prices exactly the calls we make, so
``best_possible_ratio`` is the ceiling for a mode and ``python_overhead`` the rest.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable

import nacl.bindings as nb

from bench import harness
from runtime.crypto import dkd, dkg, frost
from runtime.crypto.hazmat.group import L
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom, RandomSource

# The process's CPU time, not the wall clock: every party and the libsodium floor run in
# this one process, so this is the work done, and the time the OS gives other processes on
# a shared machine does not count as ours.
clock = time.process_time


def _best_per_call(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Seconds per call: the best of ``repeat`` batches of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best


def measure_primitives(scale: float = 1.0) -> dict[str, float]:
    s = (int.from_bytes(os.urandom(64), "little") % L).to_bytes(32, "little")
    s2 = (int.from_bytes(os.urandom(64), "little") % L).to_bytes(32, "little")
    p = nb.crypto_scalarmult_ed25519_base_noclamp(s)
    q = nb.crypto_scalarmult_ed25519_base_noclamp(s2)
    signer = nb.crypto_sign_seed_keypair(s)
    signed = nb.crypto_sign(b"minuet bench message", signer[1])

    def k(number: int) -> int:
        return max(10, int(number * scale))

    return {
        "base_mult_us": 1e6
        * _best_per_call(lambda: nb.crypto_scalarmult_ed25519_base_noclamp(s), k(2000)),
        "var_mult_us": 1e6
        * _best_per_call(lambda: nb.crypto_scalarmult_ed25519_noclamp(s, p), k(1000)),
        "add_us": 1e6 * _best_per_call(lambda: nb.crypto_core_ed25519_add(p, q), k(2000)),
        "is_valid_point_us": 1e6
        * _best_per_call(lambda: nb.crypto_core_ed25519_is_valid_point(p), k(1000)),
        "verify_us": 1e6 * _best_per_call(lambda: nb.crypto_sign_open(signed, signer[0]), k(1000)),
    }


def floor_us(prims: dict[str, float], t: int) -> float:
    return (
        2 * t * prims["base_mult_us"]
        + t * (t + 1) * prims["var_mult_us"]
        + 2 * t * (t + 1) * prims["add_us"]
    )


def libsodium_work_us(prims: dict[str, float], t: int, separate: bool) -> float:
    """The libsodium calls one signature of ours makes, priced at the measured rates: what
    this implementation would cost with zero Python overhead.

    Per signer: 2 base mults (commitments), 1 base mult for its own R_i = (d_i + ρ_i·e_i)·G,
    t-1 hiding validations and t-1 validating multiplications ρ_j·E_j, 2t-2 additions. A
    separate coordinator adds t validations, t multiplications and 2t-1 additions; a signing
    coordinator reuses its own R. Either way one Ed25519 verification of the aggregate.
    """
    base = 3 * t
    var = valid = t * (t - 1) + (t if separate else 0)
    adds = t * (2 * t - 2) + (2 * t - 1 if separate else 0)
    return (
        base * prims["base_mult_us"]
        + var * prims["var_mult_us"]
        + valid * prims["is_valid_point_us"]
        + adds * prims["add_us"]
        + prims["verify_us"]
    )


def sign_once(
    kps: dict[int, KeyPackage],
    public: PublicKeyPackage,
    signers: list[int],
    message: bytes,
    rng: RandomSource,
    separate_coordinator: bool,
) -> bytes:
    # Round one: every signer commits and sends bytes.
    round1 = {i: frost.commit(kps[i], rng) for i in signers}
    wire1 = {i: round1[i][1].to_bytes() for i in signers}
    # Coordinator: validates the received commitments. A signing coordinator (signer 1) uses
    # its own commitments as they are.
    lead = signers[0]
    received = [
        round1[i][1]
        if (not separate_coordinator and i == lead)
        else frost.SigningCommitments.from_bytes(wire1[i])
        for i in signers
    ]
    coordinator_package = frost.SigningPackage(received, message)
    wire_package = coordinator_package.to_bytes()
    # Round two: every signer parses the package itself and signs.
    wire2 = []
    for i in signers:
        nonces, mine = round1[i]
        if not separate_coordinator and i == lead:
            package = coordinator_package
        else:
            package = frost.SigningPackage.from_bytes(wire_package, own=mine)
        wire2.append(frost.sign(package, nonces, kps[i]).to_bytes())
    shares = [frost.SignatureShare.from_bytes(b) for b in wire2]
    return frost.aggregate(coordinator_package, shares, public)


def bench_signing(t: int, n: int, reps: int = 7, batch: int = 4) -> dict[str, object]:
    """Signing time per mode, the floor and the libsodium work, in interleaved repetitions.

    One repetition prices the primitives and times signatures in each mode, each as the best
    of 5 short batches; every ratio is taken within a repetition, then the median over repetitions.
    """
    rng = DeterministicRandom(f"bench-{t}-{n}")
    kps, public, _ = trusted_dealer_keygen(t, n, rng)
    signers = list(range(1, t + 1))
    msg = b"minuet bench message"
    for separate in (True, False):
        sig = sign_once(kps, public, signers, msg, rng, separate)
        frost.verify(public.verifying_key, msg, sig)  # with `cryptography`, outside the timing
    prims: list[dict[str, float]] = []

    def floor() -> float:
        prims.append(measure_primitives(scale=0.1))
        return floor_us(prims[-1], t)

    def signing(separate: bool) -> Callable[[], float]:
        # Priced like the primitives (the best of 5 short batches), so a preemption by other
        # load hits neither side of the ratio more than the other.
        once = harness.timed(lambda: sign_once(kps, public, signers, msg, rng, separate), batch, clock)
        return lambda: 1e6 * min(once() for _ in range(5))

    runs = harness.interleave(
        {"floor": floor, "separate": signing(True), "signer": signing(False)},
        reps, unit="us", warmup=False,
    )
    series: dict[str, harness.Series] = {"floor_us": runs["floor"]}
    for mode in ("separate", "signer"):
        work = harness.Series(
            tuple(libsodium_work_us(p, t, separate=mode == "separate") for p in prims), "us"
        )
        per = runs[mode]
        series[f"{mode}_us"] = per
        series[f"{mode}_libsodium_work_us"] = work
        series[f"{mode}_ratio_to_floor"] = harness.ratio(runs["floor"], per)
        series[f"{mode}_ratio_to_work"] = harness.ratio(work, per)
        # The best ratio any implementation of this mode's mandated work could reach.
        series[f"{mode}_best_possible_ratio"] = harness.ratio(runs["floor"], work)
        series[f"{mode}_python_overhead_pct"] = harness.Series(
            tuple(100 * (a - w) / w for a, w in zip(per.samples, work.samples, strict=True)), "%"
        )
    prim_min = {k: min(p[k] for p in prims) for k in prims[0]}
    return {"t": t, "n": n, "primitives_us": prim_min, **harness.to_json(series, 3)}


def bench_dkg(t: int, n: int) -> harness.Series:
    rng = DeterministicRandom("bench-dkg")

    def run() -> None:
        ids = range(1, n + 1)
        r1 = {i: dkg.part1(i, t, n, rng) for i in ids}
        wire1 = {i: r1[i][1].to_bytes() for i in ids}
        received1 = {
            i: {j: dkg.Round1Package.from_bytes(wire1[j], j) for j in ids if j != i} for i in ids
        }
        r2 = {i: dkg.part2(r1[i][0], received1[i]) for i in ids}
        for i in ids:
            dkg.part3(r2[i][0], received1[i], {j: r2[j][1][i] for j in ids if j != i})

    return harness.interleave({"dkg": harness.timed(run, clock=clock)})["dkg"]


def bench_dkd(t: int, n: int) -> dict[str, harness.Series]:
    """Seconds for one participant's evaluation, for combining t evaluations (every DLEQ
    proof checked) and for deriving one key package from the tweak."""
    rng = DeterministicRandom("bench-dkd")
    kps, public, _ = trusted_dealer_keygen(t, n, rng)
    holders = list(range(1, t + 1))
    counter = iter(range(10**9))
    ctx = b"ctx"
    shares = [dkd.evaluate(kps[i], ctx, rng) for i in holders]
    tweak = dkd.combine(public, ctx, shares)

    def everything() -> None:
        c = b"ctx-%d" % next(counter)
        wire = [dkd.evaluate(kps[i], c, rng).to_bytes() for i in holders]
        tw = dkd.combine(public, c, [dkd.DerivationShare.from_bytes(b) for b in wire])
        for kp in kps.values():
            dkd.derive_key_package(kp, tw)
        dkd.derive_public_key_package(public, tw)

    return harness.interleave({
        "evaluate": harness.timed(lambda: dkd.evaluate(kps[1], ctx, rng), 20, clock),
        "combine": harness.timed(lambda: dkd.combine(public, ctx, shares), 6, clock),
        "derive_key_package": harness.timed(lambda: dkd.derive_key_package(kps[1], tweak), 60, clock),
        "everything": harness.timed(everything, 2, clock),
    })


def main() -> None:
    t0 = time.perf_counter()
    results: dict[str, object] = {"machine": harness.machine()}
    for t, n in ((2, 3), (3, 5)):
        r = bench_signing(t, n)
        results[f"frost_{t}_of_{n}"] = r

        def med(key: str, r: dict[str, object] = r) -> float:
            v = r[key]
            assert isinstance(v, dict)
            return float(v["median"])

        def show(key: str, r: dict[str, object] = r) -> str:
            v = r[key]
            assert isinstance(v, dict)
            return f"{v['median']:.3f}x (min {v['min']:.3f}, max {v['max']:.3f})"

        print(f"FROST {t}-of-{n} signing, floor {med('floor_us'):.1f} us/sig:")
        for mode, what in (("separate", "separate coordinator"), ("signer", "signer as coordinator")):
            print(
                f"  {what:<22} {med(mode + '_us'):7.1f} us/sig; libsodium work "
                f"{med(mode + '_libsodium_work_us'):7.1f} us; Python overhead "
                f"{med(mode + '_python_overhead_pct'):5.1f} % of the libsodium work (goal <= 10 %)\n"
                f"    ratio to the libsodium work {show(mode + '_ratio_to_work')}; "
                f"ratio to the floor {show(mode + '_ratio_to_floor')}; "
                f"best possible {med(mode + '_best_possible_ratio'):.3f}x"
            )
        p = r["primitives_us"]
        assert isinstance(p, dict)
        print(
            "  libsodium (pynacl, fastest repetition): base mult {base_mult_us:.1f} us, variable "
            "mult {var_mult_us:.1f} us, add {add_us:.1f} us, is_valid_point {is_valid_point_us:.1f} "
            "us, Ed25519 verify {verify_us:.1f} us".format(**p)
        )
    dkg_s = bench_dkg(3, 5)
    results["dkg_3_of_5_ms"] = dkg_s.scaled(1e3, "ms").to_json(2)
    print(f"DKG 3-of-5 (all 5 parties, every check): {dkg_s.scaled(1e3, 'ms').show('.1f')}")
    d = bench_dkd(3, 5)
    for k, v in d.items():
        results[f"dkd_{k}_us"] = v.scaled(1e6, "us").to_json(1)
    print(
        f"DKD 3-of-5: one evaluation with its DLEQ proof {d['evaluate'].scaled(1e6, 'us').show('.0f')}\n"
        f"  combining 3 (every proof checked) {d['combine'].scaled(1e6, 'us').show('.0f')}\n"
        f"  one derived key package {d['derive_key_package'].scaled(1e6, 'us').show('.0f')}\n"
        f"  a whole derivation (3 evaluate over bytes, combine, 5 key packages + public package) "
        f"{d['everything'].scaled(1e3, 'ms').show('.2f')}"
    )
    results["total_s"] = round(time.perf_counter() - t0, 2)
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
