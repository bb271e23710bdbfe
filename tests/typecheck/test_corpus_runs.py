"""The correct programs of the typecheck corpus, run for real over the in-memory transport.

Type-checking proves a program follows its role's protocol; running the very same source
against its peers (over ``runtime.memory``, encoding every payload) shows the generated
classes actually talk to each other. Roles the corpus does not contain are written here.
"""

from __future__ import annotations

import types
from typing import Any

import pytest
import trio

from generated.examples import (
    auction,
    counted,
    gather,
    login,
    nested_choice,
    parallel,
    ping_pong,
    two_buyer,
)
from generated.threshold import dkg, frost_sign
from runtime.contract import Endpoint, Peer
from runtime.errors import GuardFailed, LinearityError
from runtime.memory import RoleFn, RoleResult, memory_session
from tests.typecheck.test_typecheck_corpus import all_cases

Role = RoleFn


def case_module(name: str) -> types.ModuleType:
    """Execute the source of corpus case ``name`` as a fresh module."""
    case = next(c for c in all_cases() if c.name == name)
    assert case.correct, f"{name} is a wrong program; only correct ones are run"
    module = types.ModuleType(f"tc_run_{name}")
    exec(compile(case.source, f"<case {name}>", "exec"), module.__dict__)
    return module


def fn(name: str, attr: str) -> Any:
    return getattr(case_module(name), attr)


def check(results: dict[str, RoleResult]) -> dict[str, Any]:
    for r in results.values():
        if r.error is not None:
            raise r.error
    return {k: r.value for k, r in results.items()}


@pytest.mark.parametrize("budget", [100, 0])  # accept, reject
async def test_two_buyer(budget: int) -> None:
    buyer1 = fn("two_buyer_buyer1_ok", "buyer1")
    buyer2 = fn("two_buyer_buyer2_ok", "buyer2")
    seller = fn("two_buyer_seller_match_ok", "seller")
    async with memory_session(two_buyer.PROTOCOL) as net:
        out = check(await net.run({
            "Buyer1": lambda ep: buyer1(two_buyer.start_buyer1(ep)),
            "Buyer2": lambda ep: buyer2(two_buyer.start_buyer2(ep), budget),
            "Seller": lambda ep: seller(two_buyer.start_seller(ep)),
        }))
    assert isinstance(out["Buyer1"], two_buyer.Buyer1_End)
    assert isinstance(out["Buyer2"], two_buyer.Buyer2_End)
    assert isinstance(out["Seller"], two_buyer.Seller_End)


async def test_ping_pong_decided_loop() -> None:
    client = fn("ping_pong_client_ok", "client")
    server = fn("ping_pong_server_ok", "server")
    async with memory_session(ping_pong.PROTOCOL) as net:
        out = check(await net.run({
            "Client": lambda ep: client(ping_pong.start_client(ep), 3),
            "Server": lambda ep: server(ping_pong.start_server(ep)),
        }))
    assert isinstance(out["Client"], ping_pong.Client_End)
    assert isinstance(out["Server"], ping_pong.Server_End)


# Clients and servers written in the unusual-but-correct styles of typestate.test.
CLIENTS = [
    ("rebind_one_name_in_a_loop_ok", "client", (3,)),
    ("recursion_ok", "client", (3,)),
    ("helpers_take_and_return_states_ok", "client", ()),
    ("try_finally_ok", "client", ([],)),
    ("class_holding_a_state_between_calls_ok", "client", ()),
    ("closure_with_nonlocal_state_ok", "client", ()),
]
SERVERS = ["while_walrus_offer_ok", "isinstance_dispatch_ok"]


@pytest.mark.parametrize("client_case", CLIENTS, ids=[c[0] for c in CLIENTS])
@pytest.mark.parametrize("server_case", SERVERS)
async def test_ping_pong_in_every_style(client_case: tuple[str, str, tuple[Any, ...]], server_case: str) -> None:
    name, attr, args = client_case
    client = fn(name, attr)
    server = fn(server_case, "server")
    async with memory_session(ping_pong.PROTOCOL) as net:
        out = check(await net.run({
            "Client": lambda ep: client(ping_pong.start_client(ep), *args),
            "Server": lambda ep: server(ping_pong.start_server(ep)),
        }))
    assert isinstance(out["Client"], ping_pong.Client_End)
    assert isinstance(out["Server"], ping_pong.Server_End)


async def test_docs_first_example_runs() -> None:
    buyer1 = fn("docs_first_example", "buyer1")
    buyer2 = fn("two_buyer_buyer2_ok", "buyer2")
    seller = fn("two_buyer_seller_match_ok", "seller")
    async with memory_session(two_buyer.PROTOCOL) as net:
        out = check(await net.run({
            "Buyer1": lambda ep: buyer1(two_buyer.start_buyer1(ep)),
            "Buyer2": lambda ep: buyer2(two_buyer.start_buyer2(ep), 100),
            "Seller": lambda ep: seller(two_buyer.start_seller(ep)),
        }))
    assert isinstance(out["Buyer1"], two_buyer.Buyer1_End)


@pytest.mark.parametrize("rounds", [0, 1, 4])
async def test_counted_loop(rounds: int) -> None:
    leader = fn("counted_leader_ok", "leader")
    follower = fn("counted_follower_ok", "follower")
    async with memory_session(counted.PROTOCOL, params={"rounds": rounds}) as net:
        out = check(await net.run({
            "Leader": lambda ep: leader(counted.start_leader(ep)),
            "Follower": lambda ep: follower(counted.start_follower(ep)),
        }))
    assert isinstance(out["Leader"], counted.Leader_End)


async def _cache(ep: Endpoint) -> parallel.Cache_End:
    get, s1 = await parallel.start_cache(ep).recv_get()
    s2 = await s1.send_hit(parallel.Hit(value=get.key.encode()))
    _done, end = await s2.recv_done()
    return end


async def _database(ep: Endpoint) -> parallel.Database_End:
    get, s1 = await parallel.start_database(ep).recv_get()
    s2 = await s1.send_row(parallel.Row(value=get.key.encode() * 2))
    _done, end = await s2.recv_done()
    return end


@pytest.mark.parametrize("case", ["parallel_client_ok", "parallel_sequential_ok", "nursery_branches_ok"])
async def test_parallel_fork_join(case: str) -> None:
    client = fn(case, "client")
    async with memory_session(parallel.PROTOCOL) as net:
        out = check(await net.run({
            "Client": lambda ep: client(parallel.start_client(ep)),
            "Cache": _cache,
            "Database": _database,
        }))
    assert isinstance(out["Client"], parallel.Client_End)


async def test_family_collection_skip_and_all_to_all() -> None:
    coord = fn("gather_coord_ok", "coord")
    worker = fn("gather_worker_ok", "worker")
    n = 4
    roles: dict[Peer | str, Role] = {"Coord": lambda ep: coord(gather.start_coord(ep), n)}
    for i in range(n):
        roles[f"Worker[{i}]"] = lambda ep: worker(gather.start_worker(ep))
    async with memory_session(gather.PROTOCOL, params={"t": 2}, families={"Worker": n}) as net:
        out = check(await net.run(roles))
    assert isinstance(out["Coord"], gather.Coord_End)
    assert all(isinstance(out[f"Worker[{i}]"], gather.Worker_End) for i in range(n))


@pytest.mark.parametrize(("amount", "reserve"), [(60, 100), (10, 100), (30, 100)])
async def test_auction_guards_and_nested_choice(amount: int, reserve: int) -> None:
    auctioneer = fn("auction_auctioneer_ok", "auctioneer")
    bidder = fn("auction_bidder_nested_ok", "bidder")
    async with memory_session(auction.PROTOCOL, params={"reserve": reserve}) as net:
        out = check(await net.run({
            "Auctioneer": lambda ep: auctioneer(auction.start_auctioneer(ep), reserve, False),
            "Bidder": lambda ep: bidder(auction.start_bidder(ep), 2 * amount),
        }))
    assert isinstance(out["Bidder"], auction.Bidder_End)


async def _shop(ep: Endpoint) -> nested_choice.Shop_End:
    order, s1 = await nested_choice.start_shop(ep).recv_order()
    if order.qty > 10:
        refuse = await s1.select_refuse()
        return await refuse.send_refuse(nested_choice.Refuse(reason="too many"))
    serve = await s1.select_serve()
    s3 = await serve.send_receipt(nested_choice.Receipt(total=2.5 * order.qty, note=None))
    result = await s3.offer()
    return result.state


@pytest.mark.parametrize("cash", [True, False])
async def test_nested_choice(cash: bool) -> None:
    customer = fn("nested_customer_ok", "customer")
    async with memory_session(nested_choice.PROTOCOL) as net:
        out = check(await net.run({
            "Customer": lambda ep: customer(nested_choice.start_customer(ep), cash),
            "Shop": _shop,
        }))
    assert isinstance(out["Shop"], nested_choice.Shop_End)


async def _audit(ep: Endpoint) -> login.Audit_End:
    logged, end = await login.start_audit(ep).recv_logged()
    assert logged.user == "ada"
    return end


async def test_subprotocol_call() -> None:
    user = fn("login_subprotocol_ok", "user")
    service = fn("login_service_ok", "service")
    async with memory_session(login.PROTOCOL) as net:
        out = check(await net.run({
            "User": lambda ep: user(login.start_user(ep)),
            "Service": lambda ep: service(login.start_service(ep)),
            "Audit": _audit,
        }))
    assert isinstance(out["Service"], login.Service_End)


async def _signer(ep: Endpoint) -> frost_sign.Signer_End:
    req, s1 = await frost_sign.start_signer(ep).recv_sign_request()
    s2 = await s1.send_commitment(frost_sign.Commitment(hiding=frost_sign.Bytes32.zero(), binding=frost_sign.Bytes32.zero()))
    package, s3 = await s2.recv_signing_package()
    assert package.message == req.message
    s4 = await s3.send_signature_share(frost_sign.SignatureShare(share=frost_sign.Bytes32(bytes([1]) * 32)))
    result = await s4.offer()
    return result.state


async def test_frost_family_choice() -> None:
    coordinator = fn("frost_coordinator_ok", "coordinator")
    roles: dict[Peer | str, Role] = {"Coordinator": lambda ep: coordinator(frost_sign.start_coordinator(ep), b"msg")}
    for i in range(3):
        roles[f"Signer[{i}]"] = _signer
    async with memory_session(frost_sign.PROTOCOL, families={"Signer": 3},
                              capabilities={"Coordinator": ["frost_coordinate"]}) as net:
        out = check(await net.run(roles))
    assert isinstance(out["Coordinator"], frost_sign.Coordinator_End)


async def test_dkg_all_to_all() -> None:
    participant = fn("dkg_participant_ok", "participant")
    roles: dict[Peer | str, Role] = {f"Participant[{i}]": lambda ep: participant(dkg.start_participant(ep)) for i in range(4)}
    async with memory_session(dkg.PROTOCOL, params={"t": 2}, families={"Participant": 4}) as net:
        out = check(await net.run(roles))
    assert len(out) == 4


# ---------------------------------------------------------------- run-time guards of the API


async def test_linearity_violation_names_state_method_and_first_use() -> None:
    async def buyer1(ep: Endpoint) -> object:
        s = two_buyer.start_buyer1(ep)
        await s.send_title(two_buyer.Title(name="x"))
        await s.send_title(two_buyer.Title(name="y"))  # second use of the same state
        return None

    async with memory_session(two_buyer.PROTOCOL) as net:
        with trio.fail_after(5):
            results = await net.run({"Buyer1": buyer1})
    err = results["Buyer1"].error
    assert isinstance(err, LinearityError)
    assert err.state == "Buyer1_S0" and err.method == "send_title"
    assert "test_corpus_runs.py" in err.first_use


async def test_guard_failure_names_the_guard() -> None:
    async def auctioneer(ep: Endpoint) -> object:
        bid, s1 = await auction.start_auctioneer(ep).recv_bid()
        await s1.select_sell(bid=bid.amount, premium=False)
        return None

    async def bidder(ep: Endpoint) -> object:
        await auction.start_bidder(ep).send_bid(auction.Bid(amount=1))
        return None

    async with memory_session(auction.PROTOCOL, params={"reserve": 100}) as net:
        results = await net.run({"Auctioneer": auctioneer, "Bidder": bidder})
    err = results["Auctioneer"].error
    assert isinstance(err, GuardFailed)
    assert err.label == "sell" and err.guard == "bid >= reserve or premium"
    assert err.spec.startswith("protocols/examples/auction.yaml:")


async def test_participation_splits_by_member_index_and_each_builds_per_recipient() -> None:
    built: list[int] = []

    def job_for(i: int) -> gather.Job:
        built.append(i)
        return gather.Job(data=bytes([i]))

    async def coord(ep: Endpoint) -> object:
        s = await gather.start_coord(ep).send_job_each(job_for)
        parts, s2 = await s.recv_part()
        await s2.send_result(gather.Result(total=len(parts)))
        return sorted(parts)

    async def worker(ep: Endpoint) -> object:
        job, s1 = await gather.start_worker(ep).recv_job()
        variant = await s1.participation()
        if isinstance(variant, gather.Worker_S1_Takes):
            s2 = await variant.state.send_part(gather.Part(value=1))
        else:
            s2 = variant.state
        s3 = await s2.send_gossip(gather.Gossip(seen=0))
        _gossip, s4 = await s3.recv_gossip()
        await s4.recv_result()
        return job.data, type(variant).__name__

    async with memory_session(gather.PROTOCOL, params={"t": 1}, families={"Worker": 2}, timeout=2.0) as net:
        results = await net.run({"Coord": coord, "Worker[0]": worker, "Worker[1]": worker})
    assert built == [0, 1]  # exactly the recipients, each once
    assert results["Worker[0]"].unwrap() == (b"\x00", "Worker_S1_Takes")
    assert results["Worker[1]"].unwrap() == (b"\x01", "Worker_S1_Skips")
    assert results["Coord"].unwrap() == [0]
