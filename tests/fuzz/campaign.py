"""The standing hardening campaign (``make fuzz``; outside ``make test``, a few minutes).

Three parts, one summary table at the end (paste it into docs/runtime.md):

1. specs: thousands of mutated specs through ``check`` (``compile_file``) and ``generate``
   (``generate_all``): a traceback is a failure, a diagnostic is the expected outcome;
2. transports: the attack matrix on memory and TCP sessions; every role must end done or
   with a typed error (``MinuetError``), within a watchdog (else a hang), and attacks from
   strangers must not stop the session at all;
3. threshold protocols: drop, duplicate, corrupt, delay and crash at every send of every
   role of every threshold protocol: 0 hangs, 0 untyped errors.

Usage: ``python -m tests.fuzz.campaign [--seed N] [--specs N] [--parts specs,transport,faults]``.
The exit status is 1 when any run crashed, hung or ended with an untyped error.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from codegen.generate import generate_all
from codegen.pipeline import compile_file
from examples import (
    dkg_ceremony,
    frost_signing,
    guardian_recovery,
    key_derivation,
    lottery_election,
    reshare_ceremony,
)
from generated.threshold import dkd as g_dkd
from generated.threshold import dkg as g_dkg
from generated.threshold import frost_sign as g_fs
from generated.threshold import lottery as g_lt
from generated.threshold import recover as g_rec
from generated.threshold import reshare as g_rs
from runtime.codec import Writer
from runtime.config import load_config
from runtime.contract import Peer, ProtocolInfo
from runtime.crypto.keys import trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from runtime.endpoint import SessionEndpoint
from runtime.errors import Flooding, MinuetError
from runtime.faults import Fault, FaultInjector, FaultKind
from runtime.framing import Item, length_prefix
from runtime.identity import Identity
from runtime.keytool import bound_local_network
from runtime.memory import MemoryFrame, RoleResult, memory_session
from runtime.middleware import Event, Forward, Middleware, WireLink
from runtime.securelink import VERSION, Initiator
from runtime.tcp import tcp_session
from tests.runtime.roles import ping_pong as pp
from tests.runtime.roles import two_buyer as tb

ROOT = Path(__file__).resolve().parents[2]

RoleFn = Callable[[SessionEndpoint], Awaitable[Any]]
WATCHDOG = 30.0  # seconds a session may take before it counts as hung


@dataclass
class Row:
    part: str
    case: str
    transport: str = "-"
    runs: int = 0
    done: int = 0  # every role finished normally
    typed: int = 0  # runs where some role ended with a typed error
    untyped: int = 0
    hangs: int = 0
    notes: list[str] = field(default_factory=list)

    def record(self, outcome: str, note: str = "") -> None:
        self.runs += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if note and len(self.notes) < 3 and note not in self.notes:
            self.notes.append(note)

    @property
    def failed(self) -> bool:
        return bool(self.untyped or self.hangs)


def classify(results: Mapping[str, RoleResult]) -> tuple[str, str]:
    """done / typed / untyped for one session's results, with a note on the first oddity."""
    errors = [(n, r.error) for n, r in results.items() if r.error is not None]
    untyped = [(n, e) for n, e in errors if not isinstance(e, MinuetError)]
    if untyped:
        n, e = untyped[0]
        return "untyped", f"{n}: {type(e).__name__}: {str(e)[:80]}"
    if errors:
        return "typed", ""
    return "done", ""


# ---------------------------------------------------------------------------- 1. specs


def _mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    op = rng.randrange(10)
    n = len(data)
    i = rng.randrange(n + 1)
    if op == 0:  # flip bits
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if b:
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        return bytes(b)
    if op == 1:  # truncate
        return data[:i]
    if op == 2:  # delete a chunk
        return data[:i] + data[i + rng.randint(1, 64):]
    if op == 3:  # duplicate a line range
        lines = data.split(b"\n")
        a = rng.randrange(len(lines))
        return b"\n".join(lines[: a + 1] + lines[a : a + rng.randint(1, 5)] + lines[a + 1 :])
    if op == 4:  # splice from another spec
        other = rng.choice(corpus)
        j = rng.randrange(len(other) + 1)
        return data[:i] + other[j : j + rng.randint(1, 400)] + data[i:]
    if op == 5:  # YAML-significant characters
        tok = rng.choice([b"[", b"]", b"{", b"}", b":", b"- ", b"&a", b"*a", b"!!str", b"\t", b"#",
                          b"'", b'"', b"|", b">", b"---\n", b"?", b"%", b"@", b"\\", b"\n  "])
        return data[:i] + tok * rng.randint(1, 3) + data[i:]
    if op == 6:  # invalid UTF-8 / control characters
        return data[:i] + rng.choice([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80", b"\x1b"]) + data[i:]
    if op == 7:  # unicode identifiers and digits
        tok = rng.choice(["²", "١", "ß", "Ω", "é", "\u200b", "😀", "İ"]).encode()
        return data[:i] + tok + data[i:]
    if op == 8:  # deep nesting
        d = rng.choice([10, 70, 500, 3000])
        return data + b"\nextra: " + b"[" * d + b"]" * d + b"\n"
    # swap two lines
    lines = data.split(b"\n")
    a, b2 = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b2] = lines[b2], lines[a]
    return b"\n".join(lines)


def part_specs(count: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    corpus = [p.read_bytes() for p in sorted((ROOT / "protocols").rglob("*.yaml"))]
    corpus += [p.read_bytes() for p in sorted((ROOT / "tests" / "specs" / "good").rglob("*.yaml"))]
    check = Row("specs", "mutated specs: check")
    gen = Row("specs", "mutated specs: generate")
    rejected = 0
    with tempfile.TemporaryDirectory() as d:
        for k in range(count):
            data = rng.choice(corpus)
            for _ in range(rng.choice([1, 1, 1, 2, 3])):
                data = _mutate(rng, data, corpus)
            path = Path(d) / f"m{k % 50}.yaml"
            path.write_bytes(data)
            for row, stage in ((check, "check"), (gen, "generate")):
                try:
                    if stage == "check":
                        rejected += any(d.severity == "error" for d in compile_file(path).diagnostics)
                    else:
                        generate_all([path], Path(d))
                except Exception as e:  # a traceback: the defect this part looks for
                    keep = ROOT / ".fuzz-failures"
                    keep.mkdir(exist_ok=True)
                    (keep / f"spec-{seed}-{k}.yaml").write_bytes(data)
                    row.record("untyped", f"{type(e).__name__}: {str(e)[:60]} (kept in .fuzz-failures)")
                else:
                    row.record("done")
    check.notes.append(f"{rejected} rejected with a located diagnostic, 0 tracebacks" if not check.untyped else "")
    return [check, gen]


# ---------------------------------------------------------------------------- 2. transports


TB_WANT = {"Buyer1": 100, "Buyer2": "2024-06-01", "Seller": "sold TAPL"}
TB_MAINS: dict[str, RoleFn] = {"Buyer1": tb.buyer1_main, "Buyer2": tb.buyer2_main, "Seller": tb.seller_main}


def _hello(initiator: str, responder: str, session: str, epoch: int) -> bytes:
    w = Writer()
    w.uvarint(VERSION)
    for text in (initiator, responder, session):
        w.text(text)
    w.uvarint(epoch)
    w.fixed(Identity.generate().link_public, 32)  # Noise message 1: e, then the payload's tag
    w.fixed(bytes(16), 16)
    return length_prefix(w.getvalue())


async def _stranger(attack: str, host: str, port: int, session: str, public: bytes) -> None:
    """One unauthenticated attack on a member's listener; errors of the attacker's own
    sockets (the member hangs up on it) are expected and ignored."""

    async def once(data: bytes, then_wait: float = 0.0) -> None:
        try:
            s = await trio.open_tcp_stream(host, port)
        except OSError:
            return
        try:
            await s.send_all(data)
            if then_wait:
                await trio.sleep(then_wait)
            with trio.move_on_after(2):
                await s.receive_some(4096)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        finally:
            await s.aclose()

    if attack == "random bytes":
        await once(os.urandom(300))
    elif attack == "truncated hello":
        await once(_hello("Seller", "Buyer1", session, 0)[:20])
    elif attack == "oversize length":
        await once(b"\xff\xff\xff\xff" + os.urandom(64))
    elif attack == "unicode hello":
        await once(_hello("Seller[²]", "Buyer1", session, 0))
    elif attack == "previous session/epoch hello":
        await once(_hello("Seller", "Buyer1", session + "-old", 0))
        await once(_hello("Seller", "Buyer1", session, 7))
    elif attack == "non-member key":
        hs = Initiator("TwoBuyer", session, 0, "Mallory", Identity.generate(), "Buyer1", public)
        await once(length_prefix(hs.hello()))
    elif attack == "impersonation":
        hs = Initiator("TwoBuyer", session, 0, "Seller", Identity.generate(), "Buyer1", public)
        await once(length_prefix(hs.hello()) + length_prefix(os.urandom(16)))
    elif attack == "slowloris":
        socks = []
        for _ in range(40):  # more than max_handshakes, each saying nothing
            try:
                socks.append(await trio.open_tcp_stream(host, port))
            except OSError:
                break
        await trio.sleep(3)
        for s in socks:
            await s.aclose()
    elif attack == "connection flood":
        async with trio.open_nursery() as n:
            for _ in range(200):
                n.start_soon(once, b"")


STRANGER_ATTACKS = [
    "random bytes", "truncated hello", "oversize length", "unicode hello",
    "previous session/epoch hello", "non-member key", "impersonation", "slowloris", "connection flood",
]


async def run_tcp(
    protocol: ProtocolInfo, roles: Mapping[str, RoleFn], tmp: Path, *, middleware: list[Middleware] | None = None,
    stranger: str | None = None, session: str = "fuzz", timeout: float = 5.0, **settings: Any,
) -> dict[str, RoleResult]:
    path, sockets = bound_local_network(
        tmp / f"n{time.monotonic_ns()}", list(roles), session=session, timeout=timeout,
        connect_timeout=15, linger=1, handshake_timeout=1, **settings,
    )
    cfg = load_config(path)
    results: dict[str, RoleResult] = {}

    async def one(name: str, fn: RoleFn, delay: float) -> None:
        res = results[name] = RoleResult(name)
        await trio.sleep(delay)
        try:
            async with tcp_session(protocol, cfg, name, listener=sockets[name], middleware=middleware or ()) as ep:
                try:
                    res.value = await fn(ep)
                except Exception as e:
                    res.error = e
        except* Exception as eg:
            if res.error is None:
                res.error = eg.exceptions[0]

    async with trio.open_nursery() as n:
        first = next(iter(roles))
        for k, (name, fn) in enumerate(roles.items()):
            # With a stranger, the others join late so the attack meets the set-up.
            n.start_soon(one, name, fn, 0.5 if stranger and k else 0.0)
        if stranger is not None:
            m = cfg.members[first]
            n.start_soon(_stranger, stranger, m.host, m.port, session, m.link_public or bytes(32))
    return results


async def run_memory(
    protocol: ProtocolInfo, roles: Mapping[str, RoleFn], *, middleware: list[Middleware] | None = None,
    session: str = "fuzz", epoch: int = 0, timeout: float = 5.0, **kw: Any,
) -> dict[str, RoleResult]:
    async with memory_session(
        protocol, middleware=middleware or (), session_id=session, epoch=epoch, timeout=timeout, **kw
    ) as net:
        return await net.run(dict(roles))


class Rewire(Middleware):
    """Wire attacks on the frames one member sends: reorder, truncate, random bytes,
    oversize, or replace with a frame recorded in another session."""

    def __init__(self, attack: str, role: str, recorded: list[object] | None = None) -> None:
        self.attack, self.role, self.recorded = attack, role, recorded
        self.held: object | None = None
        self.seen: list[object] = []
        self.fired = False

    async def on_wire(self, link: WireLink, ev: Event, wire: object, forward: Forward) -> None:
        self.seen.append(wire)
        if ev.role != self.role or self.fired:
            await forward(wire)
            return
        a = self.attack
        if a == "reorder":
            if self.held is None:
                self.held = wire
                return
            self.fired = True
            await forward(wire)
            await forward(self.held)
            return
        if a == "truncated frame" and isinstance(wire, MemoryFrame):
            data = wire.item[3]
            if not isinstance(data, bytes) or not data:
                await forward(wire)  # nothing to cut off: wait for a frame with a payload
                return
        self.fired = True
        if a == "previous session/epoch frame" and self.recorded:
            await forward(self.recorded[len(self.seen) - 1] if len(self.seen) <= len(self.recorded) else wire)
            return
        if isinstance(wire, bytes):  # TCP: length prefix | sealed frame
            body = wire[4:]
            if a == "truncated frame":
                await forward(wire[: 4 + len(body) // 2])
                link.crash()  # the rest of the stream never comes
            elif a == "random frame":
                await forward(wire[:4] + os.urandom(len(body)))
            elif a == "oversize frame":
                await forward(b"\xff\xff\xff\xff" + body)
            else:
                await forward(wire)
            return
        assert isinstance(wire, MemoryFrame)
        kind, seq, label, data, crc = wire.item
        payload = data if isinstance(data, bytes) else b""
        if a == "truncated frame":
            payload = payload[: len(payload) // 2]
        elif a == "random frame":
            payload = os.urandom(max(1, len(payload)))
        elif a == "oversize frame":
            payload = b"\0" * (5 << 20)
        await forward(MemoryFrame(wire.binding, Item(kind, seq, label, payload, crc)))


FRAME_ATTACKS = ["replay", "reorder", "truncated frame", "random frame", "oversize frame",
                 "previous session/epoch frame", "member flood"]


def _flooder(frames: int, size: int) -> RoleFn:
    async def flood(ep: SessionEndpoint) -> str:
        for _ in range(frames):
            await ep.send(Peer("Buyer2"), "Title", b"x" * size, bytes, tb.STEP_SELLER_OFFER)
        return "flooded"

    return flood


async def _frame_attack(attack: str, transport: str, tmp: Path) -> tuple[str, str]:
    pp_roles: dict[str, RoleFn] = {"Client": pp.client, "Server": pp.server}

    async def run(protocol: ProtocolInfo, roles: Mapping[str, RoleFn], mw: list[Middleware],
                  session: str = "fuzz", epoch: int = 0, **settings: Any) -> dict[str, RoleResult]:
        if transport == "memory":
            lim = settings.pop("inbox_limit", None)
            kw = {"inbox_limit": lim} if lim else {}
            return await run_memory(protocol, roles, middleware=mw, session=session, epoch=epoch, timeout=2, **kw)
        return await run_tcp(protocol, roles, tmp, middleware=mw, session=session, timeout=2, **settings)

    if attack == "replay":
        res = await run(pp.PROTOCOL, pp_roles, [FaultInjector([Fault("duplicate", role="Client", nth=2)])])
    elif attack == "member flood":
        tracemalloc.start()
        try:
            res = await run(tb.PROTOCOL, {**TB_MAINS, "Buyer1": _flooder(160, 512 << 10)}, [],
                            inbox_limit=2 << 20)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        err = res["Buyer2"].error
        if not isinstance(err, Flooding):
            return "untyped", f"flood not named: {err!r}"[:100]
        outcome, note = classify(res)
        return outcome, f"peak traced {peak / 2**20:.0f} MiB for 80 MiB sent"
    elif attack == "previous session/epoch frame":
        rec = Rewire("none", "-")
        await run(pp.PROTOCOL, pp_roles, [rec], session="earlier")
        res = await run(pp.PROTOCOL, pp_roles, [Rewire(attack, "Client", rec.seen)], session="earlier", epoch=1)
    else:
        res = await run(pp.PROTOCOL, pp_roles, [Rewire(attack, "Client")])
    outcome, note = classify(res)
    if outcome == "done":
        return "untyped", "attack not detected"  # a tampered session must not succeed
    return outcome, note


async def part_transport(tmp: Path) -> list[Row]:
    rows: list[Row] = []
    for attack in STRANGER_ATTACKS:
        row = Row("transport", attack + " (stranger)", "tcp")
        try:
            with trio.fail_after(WATCHDOG):
                res = await run_tcp(tb.PROTOCOL, TB_MAINS, tmp, stranger=attack, session=f"s{len(rows)}")
            values = {n: r.value for n, r in res.items()}
            outcome, note = classify(res)
            if outcome == "done" and values != TB_WANT:
                outcome, note = "untyped", f"wrong results {values}"
            if outcome == "typed":
                outcome, note = "untyped", "a stranger stopped the session: " + "; ".join(
                    f"{n}: {r.error}"[:90] for n, r in res.items() if r.error)
        except trio.TooSlowError:
            outcome, note = "hangs", "watchdog"
        row.record(outcome, note)
        rows.append(row)
        row.notes.append("session completed" if outcome == "done" else "")
    for attack in FRAME_ATTACKS:
        for transport in ("memory", "tcp"):
            row = Row("transport", attack, transport)
            try:
                with trio.fail_after(WATCHDOG):
                    outcome, note = await _frame_attack(attack, transport, tmp)
            except trio.TooSlowError:
                outcome, note = "hangs", "watchdog"
            row.record(outcome, note)
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------- 3. faults


@dataclass
class Case:
    name: str
    protocol: ProtocolInfo
    families: dict[str, int]
    make: Callable[[DeterministicRandom], dict[str, RoleFn]]
    params: dict[str, int] = field(default_factory=dict)
    capabilities: dict[str, set[str]] = field(default_factory=dict)


def cases() -> list[Case]:
    rng = DeterministicRandom("fuzz-keys")
    keys, public, _ = trusted_dealer_keygen(2, 3, rng)

    def frost(r: DeterministicRandom) -> dict[str, RoleFn]:
        ids = [1, 2]
        out: dict[str, RoleFn] = {
            "Coordinator": lambda ep: frost_signing.coordinator(ep, public, b"m", 0, ids)}
        for i, ident in enumerate(ids):
            out[f"Signer[{i}]"] = frost_signing._signer_program(keys[ident], r, None)
        return out

    def lottery(r: DeterministicRandom) -> dict[str, RoleFn]:
        return {f"Peer[{i}]": lottery_election._peer(b"s", 0, r, False) for i in range(3)}

    return [
        Case("frost_sign", g_fs.PROTOCOL, {"Signer": 2}, frost,
             capabilities={"Coordinator": {"frost_coordinate"}}),
        Case("lottery", g_lt.PROTOCOL, {"Peer": 3}, lottery),
        Case("dkg", g_dkg.PROTOCOL, {"Participant": 3},
             lambda r: dkg_ceremony.programs(2, 3, b"fuzz/dkg", r), params={"t": 2}),
        Case("dkd", g_dkd.PROTOCOL, {"Holder": 2},
             lambda r: key_derivation.programs(keys, public, [1, 3], b"ctx", r)),
        Case("reshare", g_rs.PROTOCOL, {"Member": 3},
             lambda r: reshare_ceremony.programs(reshare_ceremony.plan_refresh(keys, public), b"fuzz/rs", r)),
        Case("recover", g_rec.PROTOCOL, {"Guardian": 2},
             lambda r: guardian_recovery.programs(keys, public, 3, [1, 2], b"fuzz/rec", r)),
    ]


class Counter(Middleware):
    def __init__(self) -> None:
        self.sends: dict[str, int] = {}

    def before_send(self, ev: Event) -> None:
        self.sends[ev.role] = self.sends.get(ev.role, 0) + 1


async def _run_case(case: Case, mw: list[Middleware], seed: str) -> dict[str, RoleResult]:
    async with memory_session(
        case.protocol, params=case.params, families=case.families, middleware=mw, timeout=0.5,
        capabilities=case.capabilities or None,
    ) as net:
        return await net.run(case.make(DeterministicRandom(seed)))


async def part_faults() -> list[Row]:
    rows: list[Row] = []
    kinds: list[FaultKind] = ["drop", "duplicate", "corrupt", "delay", "crash"]
    for case in cases():
        row = Row("faults", case.name, "memory")
        counter = Counter()
        with trio.fail_after(WATCHDOG):
            clean = await _run_case(case, [counter], "clean")
        outcome, note = classify(clean)
        row.record(outcome, note and f"clean run: {note}")
        for role, sends in sorted(counter.sends.items()):
            for kind in kinds:
                for step in range(sends):
                    fault = (Fault(kind, role=role, after=step) if kind == "crash"
                             else Fault(kind, role=role, nth=step + 1, delay=0.05))
                    try:
                        with trio.fail_after(WATCHDOG):
                            res = await _run_case(case, [FaultInjector([fault], seed=step)], f"{role}{kind}{step}")
                        outcome, note = classify(res)
                    except trio.TooSlowError:
                        outcome, note = "hangs", f"{kind} {role} step {step}"
                    row.record(outcome, note and f"{kind} {role}#{step}: {note}")
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------- main


def table(rows: list[Row], seconds: dict[str, float]) -> str:
    head = ["part", "case", "transport", "runs", "done", "typed error", "untyped", "hangs", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        notes = "; ".join(n for n in r.notes if n)
        lines.append(f"| {r.part} | {r.case} | {r.transport} | {r.runs} | {r.done} | {r.typed} | "
                     f"{r.untyped} | {r.hangs} | {notes} |")
    total = {k: sum(getattr(r, k) for r in rows) for k in ("runs", "done", "typed", "untyped", "hangs")}
    lines.append(f"| **total** | | | {total['runs']} | {total['done']} | {total['typed']} | "
                 f"{total['untyped']} | {total['hangs']} | "
                 + ", ".join(f"{p} {s:.0f} s" for p, s in seconds.items()) + " |")
    return "\n".join(lines)


async def amain(args: argparse.Namespace) -> int:
    parts = args.parts.split(",")
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    if "specs" in parts:
        t = time.monotonic()
        rows += part_specs(args.specs, args.seed)
        seconds["specs"] = time.monotonic() - t
    if "transport" in parts:
        t = time.monotonic()
        with tempfile.TemporaryDirectory() as d:
            rows += await part_transport(Path(d))
        seconds["transport"] = time.monotonic() - t
    if "faults" in parts:
        t = time.monotonic()
        rows += await part_faults()
        seconds["faults"] = time.monotonic() - t
    print(table(rows, seconds))
    return 1 if any(r.failed for r in rows) else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--specs", type=int, default=5000, help="mutated specs (each checked and generated)")
    ap.add_argument("--parts", default="specs,transport,faults")
    args = ap.parse_args(argv)
    return trio.run(amain, args)


if __name__ == "__main__":
    sys.exit(main())
