"""Simulation scenarios for the bundled protocols (``runtime.sim``): the role programs the
examples run in memory, the Byzantine behaviours the threshold protocols defend against, and
what must hold at the end of every run.

    minuet simulate --scenario examples.sim_scenarios:frost --runs 200 --faults all

``two_buyer_careless`` carries a bug on purpose (the worked example of docs/runtime.md): its
Buyer2 turns a lost Seller into an untyped ``RuntimeError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import assert_never

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from examples import (
    dkg_ceremony,
    frost_signing,
    guardian_recovery,
    lottery_election,
)
from examples import key_derivation as kd
from generated.examples import ping_pong as pp
from generated.examples import two_buyer as tb
from generated.threshold import dkd as gdkd
from generated.threshold import dkg as gdkg
from generated.threshold import frost_sign as fs
from generated.threshold import lottery as glt
from generated.threshold import recover as grec
from runtime.contract import Endpoint
from runtime.crypto import dkd
from runtime.crypto.encoding import GROUP_ORDER
from runtime.crypto.keys import KeyPackage, PublicKeyPackage, trusted_dealer_keygen
from runtime.crypto.rand import DeterministicRandom
from runtime.errors import PeerGone
from runtime.memory import RoleFn
from runtime.sim.core import FAULT_KINDS
from runtime.sim.network import ContextRandom, SessionSpec, SimResult
from runtime.sim.scenario import Scenario

# ---------------------------------------------------------------------- two-buyer


async def buyer1(ep: Endpoint) -> int:
    s = await tb.start_buyer1(ep).send_title(tb.Title(name="TAPL"))
    quote, s2 = await s.recv_quote()
    await s2.send_share(tb.Share(amount=quote.price // 2))
    return quote.price


async def buyer2(ep: Endpoint) -> str:
    quote, s = await tb.start_buyer2(ep).recv_quote()
    share, s2 = await s.recv_share()
    if quote.price - share.amount <= 60:
        s4 = await (await s2.select_accept()).send_address(tb.Address(street="1 Main St"))
        date, _ = await s4.recv_date()
        return date.day
    await (await s2.select_reject()).send_quit(tb.Quit())
    return "rejected"


async def buyer2_careless(ep: Endpoint) -> str:
    """Buyer2 with a bug only faults reach: it reports a lost Seller as a bare RuntimeError,
    so nobody can tell which peer failed or why (the typed PeerGone is swallowed)."""
    _quote, s = await tb.start_buyer2(ep).recv_quote()
    _share, s2 = await s.recv_share()
    s4 = await (await s2.select_accept()).send_address(tb.Address(street="1 Main St"))
    try:
        date, _ = await s4.recv_date()
    except PeerGone:
        raise RuntimeError("no delivery date") from None
    return date.day


async def seller(ep: Endpoint) -> str:
    _title, s = await tb.start_seller(ep).recv_title()
    s2 = await s.send_quote(tb.Quote(price=100))
    s3 = await s2.send_quote(tb.Quote(price=100))
    match await s3.offer():
        case tb.Seller_S3_Address(state=s4):
            await s4.send_date(tb.Date(day="2026-12-01"))
            return "sold"
        case tb.Seller_S3_Quit():
            return "no sale"
        case other:
            assert_never(other)


def _buyers_agree(run: SimResult) -> str | None:
    """If Buyer2 got a delivery date, the Seller sold."""
    b2, s = run.results["Buyer2"], run.results["Seller"]
    if b2.ok and b2.value not in ("rejected",) and s.ok and s.value != "sold":
        return f"Buyer2 got date {b2.value!r} but the Seller says {s.value!r}"
    return None


two_buyer = Scenario(
    "TwoBuyer", SessionSpec(tb.PROTOCOL, timeout=10.0),
    lambda _byz: {"Buyer1": buyer1, "Buyer2": buyer2, "Seller": seller}, _buyers_agree,
)
two_buyer_careless = Scenario(
    "TwoBuyer (careless Buyer2)", SessionSpec(tb.PROTOCOL, timeout=10.0),
    lambda _byz: {"Buyer1": buyer1, "Buyer2": buyer2_careless, "Seller": seller}, _buyers_agree,
)

# ---------------------------------------------------------------------- ping-pong


async def client(ep: Endpoint) -> int:
    s = pp.start_client(ep)
    total = 0
    for i in range(3):
        s2 = await (await s.select_continue()).send_ping(pp.Ping(seq=i))
        pong, s = await s2.recv_pong()
        total += pong.seq
    await s.select_exit()
    return total


async def server(ep: Endpoint) -> int:
    s = pp.start_server(ep)
    total = 0
    while True:
        branch = await s.offer()
        if isinstance(branch, pp.Server_S0_Exit):
            return total
        ping, s2 = await branch.state.recv_ping()
        s = await s2.send_pong(pp.Pong(seq=ping.seq))
        total += ping.seq


def _totals_agree(run: SimResult) -> str | None:
    c, s = run.results["Client"], run.results["Server"]
    if c.ok and s.ok and c.value != s.value:
        return f"client counted {c.value}, server {s.value}"
    return None


ping_pong = Scenario(
    "PingPong", SessionSpec(pp.PROTOCOL, timeout=10.0),
    lambda _byz: {"Client": client, "Server": server}, _totals_agree,
)

# ---------------------------------------------------------------------- FROST 3-of-5


@cache
def _dealt(t: int, n: int) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    # One fixed test key for every seed: keygen per run would dominate the simulation.
    keys, public, _ = trusted_dealer_keygen(t, n, DeterministicRandom(f"sim-keys/{t}/{n}"))
    return keys, public


FROST_MESSAGE = b"minuet: simulated signature"


def _flip(share: bytes) -> bytes:
    return bytes([share[0] ^ 1]) + share[1:]


def _frost_roles(byzantine: Mapping[str, str]) -> dict[str, RoleFn]:
    keys, public = _dealt(3, 5)
    ids = [1, 2, 3]

    async def coordinator(ep: Endpoint) -> bytes | list[int]:
        return await frost_signing.coordinator(ep, public, FROST_MESSAGE, 0, ids)

    def signer(i: int) -> RoleFn:
        tamper = _flip if byzantine.get(f"Signer[{i}]") == "bad-share" else None

        async def run(ep: Endpoint) -> bytes | list[int]:
            return await frost_signing.signer(ep, keys[ids[i]], None, tamper)

        return run

    roles: dict[str, RoleFn] = {"Coordinator": coordinator}
    roles.update({f"Signer[{i}]": signer(i) for i in range(3)})
    return roles


def frost_invariant(run: SimResult) -> str | None:
    """All honest signers that finished hold the same valid signature, or the abort names
    exactly Byzantine signers (by identifier: member i holds identifier i + 1)."""
    _, public = _dealt(3, 5)
    liars = {int(m[len("Signer["):-1]) + 1 for m in run.byzantine}
    outcomes = {name: r.value for name, r in run.results.items() if r.ok}
    for name, value in sorted(outcomes.items()):
        if isinstance(value, bytes):
            try:
                Ed25519PublicKey.from_public_bytes(public.verifying_key.to_bytes()).verify(value, FROST_MESSAGE)
            except InvalidSignature:
                return f"{name} holds a signature that does not verify"
        elif isinstance(value, list) and not set(value) <= liars:
            return f"{name} names honest signers {sorted(set(value) - liars)} (Byzantine: {sorted(liars)})"
    signatures = {v for v in outcomes.values() if isinstance(v, bytes)}
    if len(signatures) > 1:
        return "honest members hold different signatures"
    if liars and signatures:
        return f"a signature was produced although {sorted(liars)} sent bad shares"
    return None


frost = Scenario(
    "FrostSign 3-of-5", SessionSpec(fs.PROTOCOL, families={"Signer": 3}, timeout=10.0,
                                    capabilities={"Coordinator": {"frost_coordinate"}}),
    _frost_roles, frost_invariant,
    byzantine={"bad-share": ("Signer[0]", "Signer[1]", "Signer[2]")}, max_byzantine=1,
    faults=FAULT_KINDS,
)

# ---------------------------------------------------------------------- lottery


def _lottery_roles(byzantine: Mapping[str, str]) -> dict[str, RoleFn]:
    rng = ContextRandom()

    def peer(i: int) -> RoleFn:
        lie = byzantine.get(f"Peer[{i}]") == "liar"

        async def run(ep: Endpoint) -> int:
            return await lottery_election.elect(ep, b"sim-lottery", 0, rng, lie)

        return run

    return {f"Peer[{i}]": peer(i) for i in range(4)}


def lottery_invariant(run: SimResult) -> str | None:
    """Honest peers that finished elect the same winner; none elects despite a liar."""
    winners = {r.value for name, r in run.results.items() if r.ok and name not in run.byzantine}
    if len(winners) > 1:
        return f"honest peers elected different winners {sorted(winners)}"
    if run.byzantine and winners:
        return f"a winner was elected although {sorted(run.byzantine)} lied"
    return None


lottery = Scenario(
    "Lottery (4 peers)", SessionSpec(glt.PROTOCOL, families={"Peer": 4}, timeout=10.0),
    _lottery_roles, lottery_invariant,
    byzantine={"liar": tuple(f"Peer[{i}]" for i in range(4))}, max_byzantine=1,
    faults=FAULT_KINDS,
)

# ---------------------------------------------------------------------- key derivation


def _forge(share: dkd.DerivationShare) -> dkd.DerivationShare:
    return dkd.DerivationShare(share.identifier, share.evaluation, share.challenge, (share.response + 1) % GROUP_ORDER)


def _dkd_roles(byzantine: Mapping[str, str]) -> dict[str, RoleFn]:
    keys, public = _dealt(3, 5)
    holders = [1, 3, 4]
    tamper = {i: _forge for i in range(len(holders)) if byzantine.get(f"Holder[{i}]") == "forge-proof"}
    return kd.programs(keys, public, holders, b"wallet/sim", ContextRandom(), tamper)


def dkd_invariant(run: SimResult) -> str | None:
    """Members that derived a key derived the same one; a forger is never trusted."""
    derived = {name: r.value for name, r in run.results.items() if r.ok}
    groups = {v[1].verifying_key.to_bytes() for v in derived.values() if isinstance(v, tuple)}
    if len(groups) > 1:
        return "members derived different group keys"
    if run.byzantine and groups:
        return f"a key was derived although {sorted(run.byzantine)} forged its proof"
    return None


key_derivation = Scenario(
    "Dkd (3 holders of 3-of-5)", SessionSpec(gdkd.PROTOCOL, families={"Holder": 3}, timeout=10.0),
    _dkd_roles, dkd_invariant,
    byzantine={"forge-proof": ("Holder[0]", "Holder[1]", "Holder[2]")}, max_byzantine=1,
    faults=FAULT_KINDS,
)

# ---------------------------------------------------------------------- guardian recovery


def _recovery_roles(byzantine: Mapping[str, str]) -> dict[str, RoleFn]:
    keys, public = _dealt(3, 5)
    guardians = [1, 3, 4]
    survivors = {i: keys[i] for i in guardians}
    tamper = {i: (lambda s: (s + 1) % GROUP_ORDER) for i in range(3) if byzantine.get(f"Guardian[{i}]") == "wrong-sigma"}
    return guardian_recovery.programs(survivors, public, 2, guardians, b"sim", ContextRandom(), tamper)


def recovery_invariant(run: SimResult) -> str | None:
    """A recovered key is the lost one; never with a lying guardian."""
    keys, _ = _dealt(3, 5)
    r = run.results["Recovering"]
    if r.ok and isinstance(r.value, KeyPackage):
        if r.value != keys[2]:
            return "the recovered key package is not the lost one"
        if run.byzantine:
            return f"recovered although {sorted(run.byzantine)} sent a wrong sigma"
    return None


recovery = Scenario(
    "Recover (3 guardians)", SessionSpec(grec.PROTOCOL, families={"Guardian": 3}, timeout=10.0),
    _recovery_roles, recovery_invariant,
    byzantine={"wrong-sigma": ("Guardian[0]", "Guardian[1]", "Guardian[2]")}, max_byzantine=1,
    faults=FAULT_KINDS,
)

# ---------------------------------------------------------------------- DKG


def _dkg_misbehaviour(i: int, mode: str | None) -> dkg_ceremony.Misbehaviour | None:
    victim = (i + 1) % 3
    if mode == "bad-deal":  # seals a wrong share to the next member
        return dkg_ceremony.Misbehaviour(deal=lambda j, share: (share + 1) % GROUP_ORDER if j == victim else share)
    if mode == "false-complaint":  # accuses the next member's honest share
        return dkg_ceremony.Misbehaviour(complain_about=frozenset({victim}))
    return None


def _dkg_roles(byzantine: Mapping[str, str]) -> dict[str, RoleFn]:
    behaviour = {
        i: b for i in range(3) if (b := _dkg_misbehaviour(i, byzantine.get(f"Participant[{i}]"))) is not None
    }
    return dkg_ceremony.programs(2, 3, b"minuet/dkg/sim", ContextRandom(), behaviour)


def dkg_invariant(run: SimResult) -> str | None:
    """Participants that finished with a key agree on the group key; after a lie nobody
    settles the ceremony in the Dkg session alone (the complaint goes to Justify)."""
    keyed = {name: r.value for name, r in run.results.items() if r.ok and isinstance(r.value, tuple)}
    if len({v[1].verifying_key.to_bytes() for v in keyed.values()}) > 1:
        return "participants hold different group keys"
    if run.byzantine and keyed:
        return f"{sorted(keyed)} settled although {sorted(run.byzantine)} lied"
    return None


dkg = Scenario(
    "Dkg 2-of-3", SessionSpec(gdkg.PROTOCOL, params={"t": 2}, families={"Participant": 3}, timeout=10.0),
    _dkg_roles, dkg_invariant,
    byzantine={m: tuple(f"Participant[{i}]" for i in range(3)) for m in ("bad-deal", "false-complaint")},
    max_byzantine=1,
    faults=FAULT_KINDS,
)

# Every bundled protocol with role programs: the simulation sweep of `make test` runs these.
ALL: dict[str, Scenario] = {
    "two_buyer": two_buyer, "ping_pong": ping_pong, "frost": frost, "lottery": lottery,
    "key_derivation": key_derivation, "recovery": recovery, "dkg": dkg,
}
