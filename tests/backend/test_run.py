"""Generated role classes run end to end over the in-memory transport (runtime.memory).

Every role function here is written against the generated API exactly as a user would,
returns its End state, and is also type-checked by `mypy --strict` with the rest of tests/.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, assert_never, cast

import pytest
import trio

from generated.examples import aggregate as ag
from generated.examples import auction as au
from generated.examples import counted as co
from generated.examples import gather as ga
from generated.examples import login as lo
from generated.examples import nested_choice as nc
from generated.examples import parallel as pa
from generated.examples import ping_pong as pp
from generated.examples import two_buyer as tb
from generated.threshold import dkg
from generated.threshold import frost_sign as fs
from runtime.contract import Endpoint, ProtocolInfo
from runtime.errors import CapabilityDenied, GuardFailed, LinearityError, LocalViolation, PeerGone
from runtime.memory import memory_session

RoleFn = Callable[[Any], Awaitable[Any]]


async def run(
    info: ProtocolInfo,
    roles: Mapping[str, RoleFn],
    params: Mapping[str, int] | None = None,
    families: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Run the roles in one memory session; every role error raised as a group, else values."""
    async with memory_session(info, params=params, families=families) as net:
        results = await net.run(dict(roles))
    errors = [r.error for r in results.values() if isinstance(r.error, Exception)]
    if errors:
        raise ExceptionGroup("role errors", errors)
    return {name: r.value for name, r in results.items()}


# ---------------------------------------------------------------- two-buyer (choice)


def two_buyer_roles(accept: bool) -> dict[str, RoleFn]:
    async def buyer1(ep: Endpoint) -> tb.Buyer1_End:
        s = await tb.start_buyer1(ep).send_title(tb.Title(name="TAPL"))
        q, s2 = await s.recv_quote()
        return await s2.send_share(tb.Share(amount=q.price // 2))

    async def buyer2(ep: Endpoint) -> tb.Buyer2_End:
        _, s = await tb.start_buyer2(ep).recv_quote()
        _, s1 = await s.recv_share()
        if accept:
            s2 = await s1.select_accept()
            s3 = await s2.send_address(tb.Address(street="1 Main St"))
            day, end = await s3.recv_date()
            assert day == tb.Date(day="monday")
            return end
        s4 = await s1.select_reject()
        return await s4.send_quit(tb.Quit())

    async def seller(ep: Endpoint) -> tuple[str, tb.Seller_End]:
        title, s = await tb.start_seller(ep).recv_title()
        assert title.name == "TAPL"
        s1 = await s.send_quote(tb.Quote(price=42))
        s2 = await s1.send_quote(tb.Quote(price=42))
        match await s2.offer():
            case tb.Seller_S3_Address(msg=addr, state=s3):
                return addr.street, await s3.send_date(tb.Date(day="monday"))
            case tb.Seller_S3_Quit(state=end):
                return "quit", end
            case _ as unreachable:
                assert_never(unreachable)

    return {"Buyer1": buyer1, "Buyer2": buyer2, "Seller": seller}


@pytest.mark.parametrize("accept", [True, False])
async def test_two_buyer_runs(accept: bool) -> None:
    out = await run(tb.PROTOCOL, two_buyer_roles(accept))
    assert isinstance(out["Buyer1"], tb.Buyer1_End)
    assert isinstance(out["Buyer2"], tb.Buyer2_End)
    street, end = out["Seller"]
    assert street == ("1 Main St" if accept else "quit")
    assert isinstance(end, tb.Seller_End)


# ---------------------------------------------------------------- ping-pong (decided loop)


async def test_ping_pong_decided_loop() -> None:
    async def client(ep: Endpoint) -> list[int]:
        s = pp.start_client(ep)
        seen = []
        for i in range(3):
            s1 = await s.select_continue()
            s2 = await s1.send_ping(pp.Ping(seq=i))
            pong, s = await s2.recv_pong()
            seen.append(pong.seq)
        await s.select_exit()
        return seen

    async def server(ep: Endpoint) -> int:
        s = pp.start_server(ep)
        rounds = 0
        while True:
            match await s.offer():
                case pp.Server_S0_Continue(state=s1):
                    ping, s2 = await s1.recv_ping()
                    s = await s2.send_pong(pp.Pong(seq=ping.seq * 10))
                    rounds += 1
                case pp.Server_S0_Exit():
                    return rounds
                case _ as unreachable:
                    assert_never(unreachable)

    out = await run(pp.PROTOCOL, {"Client": client, "Server": server})
    assert out == {"Client": [0, 10, 20], "Server": 3}


# ---------------------------------------------------------------- counted loop


async def test_counted_loop_runs_exactly_count_times() -> None:
    async def leader(ep: Endpoint) -> list[int]:
        s = co.start_leader(ep)
        accepted: list[int] = []
        while True:
            match await s.next():
                case co.Leader_S0_Iter(state=body):
                    value = len(accepted) + 100
                    s2 = await body.send_propose(co.Propose(value=value))
                    vote, s = await s2.recv_vote()
                    if vote.yes:
                        accepted.append(value)
                case co.Leader_S0_Done(state=after):
                    await after.send_summary(co.Summary(accepted=accepted))
                    return accepted
                case _ as unreachable:
                    assert_never(unreachable)

    async def follower(ep: Endpoint) -> tuple[int, list[int]]:
        s = co.start_follower(ep)
        iterations = []
        while True:
            iterations.append(s.iteration)
            match await s.next():
                case co.Follower_S0_Iter(state=body):
                    _, s2 = await body.recv_propose()
                    s = await s2.send_vote(co.Vote(yes=True))
                case co.Follower_S0_Done(state=after):
                    summary, _end = await after.recv_summary()
                    return len(summary.accepted), iterations
                case _ as unreachable:
                    assert_never(unreachable)

    out = await run(co.PROTOCOL, {"Leader": leader, "Follower": follower}, params={"rounds": 4})
    assert out["Leader"] == [100, 101, 102, 103]
    assert out["Follower"] == (4, [0, 1, 2, 3, 4])


# ---------------------------------------------------------------- parallel (fork/join)


async def test_parallel_fork_join_in_a_nursery() -> None:
    async def client(ep: Endpoint) -> pa.Client_End:
        join, a, b = await pa.start_client(ep).fork()
        ends: dict[str, Any] = {}

        async def cache_branch(s: pa.Client_S1) -> None:
            s1 = await s.send_get(pa.Get(key="k"))
            _, ends["a"] = await s1.recv_hit()

        async def db_branch(s: pa.Client_S4) -> None:
            s1 = await s.send_get(pa.Get(key="k"))
            _, ends["b"] = await s1.recv_row()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cache_branch, a)
            nursery.start_soon(db_branch, b)
        after = await join.join(ends["a"], ends["b"])
        s = await after.send_done(pa.Done())
        return await s.send_done(pa.Done())

    async def cache(ep: Endpoint) -> pa.Cache_End:
        _, s = await pa.start_cache(ep).recv_get()
        s1 = await s.send_hit(pa.Hit(value=b"h"))
        _, end = await s1.recv_done()
        return end

    async def database(ep: Endpoint) -> pa.Database_End:
        _, s = await pa.start_database(ep).recv_get()
        s1 = await s.send_row(pa.Row(value=b"r"))
        _, end = await s1.recv_done()
        return end

    out = await run(pa.PROTOCOL, {"Client": client, "Cache": cache, "Database": database})
    assert isinstance(out["Client"], pa.Client_End)


# ---------------------------------------------------------------- sub-protocol call


async def test_login_with_inlined_subprotocol() -> None:
    async def user(ep: Endpoint) -> lo.User_End:
        s = await lo.start_user(ep).send_hello(lo.Hello(name="ada"))
        ch, s1 = await s.recv_challenge()
        return await s1.send_response(lo.Response(mac=lo.Bytes32(ch.nonce * 2)))

    async def service(ep: Endpoint) -> lo.Service_End:
        hello, s = await lo.start_service(ep).recv_hello()
        s1 = await s.send_challenge(lo.Challenge(nonce=lo.Bytes16(bytes(range(16)))))
        resp, s2 = await s1.recv_response()
        assert resp.mac == bytes(range(16)) * 2
        return await s2.send_logged(lo.Logged(user=hello.name))

    async def audit(ep: Endpoint) -> str:
        logged, _ = await lo.start_audit(ep).recv_logged()
        return logged.user

    out = await run(lo.PROTOCOL, {"User": user, "Service": service, "Audit": audit})
    assert out["Audit"] == "ada"


# ---------------------------------------------------------------- nested choice + guards


async def test_nested_choice() -> None:
    async def customer(ep: Endpoint) -> str:
        s = await nc.start_customer(ep).send_order(nc.Order(item="tea", qty=2))
        match await s.offer():
            case nc.Customer_S1_Receipt(msg=receipt, state=s2):
                s3 = await s2.select_cash()
                await s3.send_cash(nc.Cash(amount=receipt.total))
                return f"paid {receipt.total} {receipt.note}"
            case nc.Customer_S1_Refuse(msg=refuse):
                return refuse.reason
            case _ as unreachable:
                assert_never(unreachable)

    async def shop(ep: Endpoint) -> float:
        order, s = await nc.start_shop(ep).recv_order()
        s1 = await s.select_serve()
        s2 = await s1.send_receipt(nc.Receipt(total=order.qty * 1.5, note=None))
        match await s2.offer():
            case nc.Shop_S3_Card():
                return -1.0
            case nc.Shop_S3_Cash(msg=cash):
                return cash.amount
            case _ as unreachable:
                assert_never(unreachable)

    out = await run(nc.PROTOCOL, {"Customer": customer, "Shop": shop})
    assert out == {"Customer": "paid 3.0 None", "Shop": 3.0}


def auction_roles(amount: int, premium: bool) -> dict[str, RoleFn]:
    async def bidder(ep: Endpoint) -> str:
        s = await au.start_bidder(ep).send_bid(au.Bid(amount=amount))
        match await s.offer():
            case au.Bidder_S1_Sold(msg=sold):
                return f"sold {sold.price}"
            case au.Bidder_S1_Counter(state=s2):
                await (await s2.select_leave()).send_decline(au.Decline())
                return "countered"
            case au.Bidder_S1_Unsold(msg=unsold):
                return unsold.reason
            case _ as unreachable:
                assert_never(unreachable)

    async def auctioneer(ep: Endpoint) -> au.Auctioneer_End:
        bid, s = await au.start_auctioneer(ep).recv_bid()
        s1 = await s.select_sell(bid=bid.amount, premium=premium)
        return await s1.send_sold(au.Sold(price=bid.amount))

    return {"Bidder": bidder, "Auctioneer": auctioneer}


async def test_guard_holds() -> None:
    out = await run(au.PROTOCOL, auction_roles(150, False), params={"reserve": 100})
    assert out["Bidder"] == "sold 150"


async def test_guard_fails_with_guard_failed_naming_the_guard() -> None:
    with pytest.RaisesGroup(GuardFailed, PeerGone) as info:
        await run(au.PROTOCOL, auction_roles(50, False), params={"reserve": 100})
    err = _find(info.value, GuardFailed)
    assert err.label == "sell"
    assert err.guard == "bid >= reserve or premium"
    assert "protocols/examples/auction.yaml:" in err.spec


def _find(exc: BaseException, kind: type[Exception]) -> Any:
    """The first ``kind`` inside ``exc`` (which may be an exception group or chained)."""
    stack = [exc]
    while stack:
        e = stack.pop()
        if isinstance(e, kind):
            return e
        if isinstance(e, BaseExceptionGroup):
            stack.extend(e.exceptions)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if e.__context__ is not None:
            stack.append(e.__context__)
    raise AssertionError(f"no {kind.__name__} in {exc!r}")


# ---------------------------------------------------------------- families


async def test_family_collection_range_participation_and_all_to_all() -> None:
    n, t = 4, 2

    async def coord(ep: Endpoint) -> dict[int, int]:
        s = await ga.start_coord(ep).send_job(ga.Job(data=b"job"))
        parts, s1 = await s.recv_part()
        total = sum(p.value for p in parts.values())
        await s1.send_result_each(lambda i: ga.Result(total=total + i))
        return {i: p.value for i, p in parts.items()}

    async def worker(ep: Endpoint) -> tuple[bool, list[int], int]:
        me = ep.me.index
        assert me is not None
        job, s = await ga.start_worker(ep).recv_job()
        assert job.data == b"job"
        match await s.participation():
            case ga.Worker_S1_Takes(state=taking):
                part = True
                s1 = await taking.send_part(ga.Part(value=me * 10))
            case ga.Worker_S1_Skips(state=s1):
                part = False
            case other:
                assert_never(other)
        s2 = await s1.send_gossip(ga.Gossip(seen=me))
        gossip, s3 = await s2.recv_gossip()
        result, _ = await s3.recv_result()
        return part, sorted(g.seen for g in gossip.values()), result.total

    roles: dict[str, RoleFn] = {"Coord": coord}
    roles.update({f"Worker[{i}]": worker for i in range(n)})
    out = await run(ga.PROTOCOL, roles, params={"t": t}, families={"Worker": n})
    assert out["Coord"] == {0: 0, 1: 10}
    for i in range(n):
        part, gossip, total = out[f"Worker[{i}]"]
        assert part == (i < t)
        assert gossip == [j for j in range(n) if j != i]
        assert total == 10 + i


async def test_dkg_all_to_all() -> None:
    n = 3

    async def participant(ep: Endpoint) -> int:
        me = ep.me.index
        assert me is not None
        s = dkg.start_participant(ep)
        s1 = await s.send_round1(dkg.Round1(commitments=[dkg.Bytes32.zero()], proof=dkg.Bytes64.zero()))
        _r1, s2 = await s1.recv_round1()
        s3 = await s2.send_round2_each(lambda j: dkg.Round2(sealed_share=bytes([me, j])))
        r2, s4 = await s3.recv_round2()
        assert all(m.sealed_share == bytes([j, me]) for j, m in r2.items())
        s5 = await s4.send_confirm(dkg.Confirm(group_key=dkg.Bytes32.zero(), complaints=[]))
        r3, _end = await s5.recv_confirm()
        return len(r3)

    out = await run(dkg.PROTOCOL, {f"Participant[{i}]": participant for i in range(n)},
                    params={"t": 2}, families={"Participant": n})
    assert set(out.values()) == {n - 1}


async def test_frost_sign_family_with_annotations() -> None:
    n = 3

    async def coordinator(ep: Endpoint) -> fs.Coordinator_End:
        s = await fs.start_coordinator(ep).send_sign_request(
            fs.SignRequest(epoch=1, message=b"m", key_id="k"))
        commits, s1 = await s.recv_commitment()
        entries = [fs.CommitmentEntry(identifier=i + 1, hiding=c.hiding, binding=c.binding)
                   for i, c in sorted(commits.items())]
        s2 = await s1.send_signing_package(fs.SigningPackage(message=b"m", commitments=entries))
        _, s3 = await s2.recv_signature_share()
        s4 = await s3.select_done()
        return await s4.send_signature(fs.Signature(signature=fs.Bytes64.zero()))

    async def signer(ep: Endpoint) -> str:
        _, s = await fs.start_signer(ep).recv_sign_request()
        s1 = await s.send_commitment(fs.Commitment(hiding=fs.Bytes32.zero(), binding=fs.Bytes32.zero()))
        pkg, s2 = await s1.recv_signing_package()
        assert len(pkg.commitments) == n
        s3 = await s2.send_signature_share(fs.SignatureShare(share=fs.Bytes32.zero()))
        match await s3.offer():
            case fs.Signer_S4_Signature():
                return "signed"
            case fs.Signer_S4_Abort(msg=abort):
                return abort.reason
            case _ as unreachable:
                assert_never(unreachable)

    roles: dict[str, RoleFn] = {"Coordinator": coordinator}
    roles.update({f"Signer[{i}]": signer for i in range(n)})
    async with memory_session(fs.PROTOCOL, families={"Signer": n},
                              capabilities={"Coordinator": ["frost_coordinate"]}) as net:
        results = await net.run(roles)
    assert [results[f"Signer[{i}]"].unwrap() for i in range(n)] == ["signed"] * n


# ---------------------------------------------------------------- linearity


async def test_a_state_is_single_use() -> None:
    async def buyer1(ep: Endpoint) -> None:
        s = tb.start_buyer1(ep)
        await s.send_title(tb.Title(name="TAPL"))
        await s.send_title(tb.Title(name="TAPL"))  # second use of the same state

    roles = two_buyer_roles(accept=True)
    roles["Buyer1"] = buyer1
    with pytest.RaisesGroup(LinearityError, PeerGone, PeerGone) as info:
        await run(tb.PROTOCOL, roles)
    err = _find(info.value, LinearityError)
    assert err.state == "Buyer1_S0"
    assert err.method == "send_title"
    assert Path(__file__).name in err.first_use and "send_title()" in err.first_use


def test_states_have_no_public_constructor() -> None:
    with pytest.raises(TypeError, match="no public constructor"):
        tb.Buyer1_S0(object(), object())  # type: ignore[arg-type]


async def test_step_annotations_reach_the_runtime() -> None:
    """The generated Step carries guard_capability: a coordinator without it cannot send."""

    async def coordinator(ep: Endpoint) -> None:
        await fs.start_coordinator(ep).send_sign_request(
            fs.SignRequest(epoch=1, message=b"m", key_id="k"))

    async def signer(ep: Endpoint) -> None:
        await fs.start_signer(ep).recv_sign_request()

    async with memory_session(fs.PROTOCOL, families={"Signer": 1},
                              capabilities={"Coordinator": []}) as net:
        results = await net.run({"Coordinator": coordinator, "Signer[0]": signer})
    err = results["Coordinator"].error
    assert isinstance(err, CapabilityDenied)
    assert err.capability == "frost_coordinate"
    assert "protocols/threshold/frost_sign.yaml:" in err.step


# ---------------------------------------------------------------- local steps


def aggregate_roles(combined_size: int) -> dict[str, RoleFn]:
    """Collector combines the members' shares with a local step; members 0..t check it."""

    def combine(shares: list[ag.Share]) -> ag.Bytes32:
        total = sum(s.index for s in shares)
        # cast: the wrong-size case stands for a value that escaped the types (Any, a C
        # extension); the step's run-time check is what must catch it.
        return cast(ag.Bytes32, bytes([total % 256]) * combined_size)

    async def collector(ep: Endpoint) -> ag.Collector_End:
        parts, s1 = await ag.start_collector(ep).recv_contribute()
        value, s2 = await s1.do_combine(combine, [p.share for _, p in sorted(parts.items())])
        return await s2.send_combined(ag.Combined(value=value))

    async def member(ep: Endpoint) -> ag.Member_End:
        me = ep.me.index
        assert me is not None
        s1 = await ag.start_member(ep).send_contribute(ag.Contribute(share=ag.Share(index=me, value=ag.Bytes32.zero())))
        combined, s2 = await s1.recv_combined()
        checked: list[bytes] = []
        match await s2.participation():
            case ag.Member_S2_Takes(state=taking):
                s3 = await taking.do_check(checked.append, combined.value)
            case ag.Member_S2_Skips(state=s3):
                pass
            case other:
                assert_never(other)
        digests, end = await s3.do_remember(lambda: {me: combined.value})
        assert digests == {me: combined.value} and len(checked) == (1 if me < 2 else 0)
        return end

    return {"Collector": collector, **{f"Member[{i}]": member for i in range(3)}}


async def test_local_steps_run_where_the_protocol_says() -> None:
    out = await run(ag.PROTOCOL, aggregate_roles(32), params={"t": 2}, families={"Member": 3})
    assert type(out["Collector"]).__name__ == "Collector_End"


async def test_a_local_step_output_of_the_wrong_type_is_a_local_violation() -> None:
    with pytest.raises(ExceptionGroup) as group:
        await run(ag.PROTOCOL, aggregate_roles(31), params={"t": 2}, families={"Member": 3})
    errors = group.value.exceptions
    assert any(isinstance(e, LocalViolation) and "output is not a bytes32" in str(e) for e in errors), errors
