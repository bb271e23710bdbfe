"""Failure branches on family members at run time: a collection with ``on_failure`` yields
``..._Failed`` naming the member that crashed or missed the deadline, the send of the
failure branch to the whole family reaches only the survivors, and every survivor learns
of the failure (protocols/examples/collect_or_abort.yaml)."""

from __future__ import annotations

from typing import Any, assert_never

import pytest
import trio
from trio.testing import MockClock

from generated.examples import collect_or_abort as ca
from runtime.contract import Endpoint
from runtime.errors import PeerGone
from runtime.memory import RoleResult, memory_session
from tests.runtime.harness import RoleFn, Runner

N = 3


class Crash(Exception):
    """A signer's simulated crash."""


def roles(crash: int | None = None, stall: int | None = None) -> tuple[dict[str, RoleFn], list[str]]:
    """Signer ``crash`` crashes before sending its share, signer ``stall`` sends it past
    the deadline; the log says what each role saw."""
    log: list[str] = []

    async def coordinator(ep: Endpoint) -> ca.Coordinator_End:
        match await ca.start_coordinator(ep).offer():
            case ca.Coordinator_S0_Share(msg=shares, state=s1):
                total = sum(s.value for s in shares.values())
                s2 = await s1.send_total(ca.Total(value=total))
                return await s2.send_total(ca.Total(value=total))
            case ca.Coordinator_S0_Failed(peer=peer, state=s3):
                log.append(f"coordinator: {peer} failed")
                s4 = await s3.send_abort(ca.Abort(failed=peer))
                return await s4.send_abort(ca.Abort(failed=peer))
            case other:
                assert_never(other)

    async def auditor(ep: Endpoint) -> ca.Auditor_End:
        match await ca.start_auditor(ep).offer():
            case ca.Auditor_S0_Total(msg=t, state=end):
                log.append(f"auditor: total {t.value}")
                return end
            case ca.Auditor_S0_Abort(msg=a, state=end):
                log.append(f"auditor: abort, {a.failed} failed")
                return end
            case other:
                assert_never(other)

    async def signer(ep: Endpoint) -> ca.Signer_End:
        me = ep.me.index
        assert me is not None
        if me == crash:
            raise Crash(f"signer {me} down")
        if me == stall:
            await trio.sleep(1.0)  # past the 0.5 s deadline of the collection
        s1 = await ca.start_signer(ep).send_share(ca.Share(value=me + 1))
        match await s1.offer():
            case ca.Signer_S1_Total(state=end):
                return end
            case ca.Signer_S1_Abort(msg=a, state=end):
                log.append(f"signer {me}: abort, {a.failed} failed")
                return end
            case other:
                assert_never(other)

    fns: dict[str, RoleFn] = {"Coordinator": coordinator, "Auditor": auditor}
    fns.update({f"Signer[{i}]": signer for i in range(N)})
    return fns, log


def outcomes(results: dict[str, RoleResult]) -> dict[str, Any]:
    return {name: r.error if r.error is not None else r.value for name, r in results.items()}


async def test_without_failure_everyone_gets_the_total(run_roles: Runner) -> None:
    fns, log = roles()
    out = outcomes(await run_roles(ca.PROTOCOL, fns, families={"Signer": N}))
    assert all(type(v).__name__.endswith("_End") for v in out.values()), out
    assert log == ["auditor: total 6"]


async def test_a_crashed_member_is_named_and_the_survivors_abort(run_roles: Runner) -> None:
    fns, log = roles(crash=1)
    out = outcomes(await run_roles(ca.PROTOCOL, fns, families={"Signer": N}))
    assert isinstance(out.pop("Signer[1]"), Crash)
    assert all(type(v).__name__.endswith("_End") for v in out.values()), out
    assert sorted(log) == [
        "auditor: abort, Signer[1] failed",
        "coordinator: Signer[1] failed",
        "signer 0: abort, Signer[1] failed",
        "signer 2: abort, Signer[1] failed",
    ]


async def test_a_member_past_the_deadline_is_taken_for_crashed(autojump_clock: MockClock) -> None:
    """The slow member is not sent the abort (a message to a crashed peer is lost): it
    learns nothing from the coordinator and gets PeerGone itself."""
    fns, log = roles(stall=2)
    async with memory_session(ca.PROTOCOL, families={"Signer": N}, timeout=5.0) as net:
        out = outcomes(await net.run(fns))
    assert isinstance(out.pop("Signer[2]"), PeerGone)
    assert all(type(v).__name__.endswith("_End") for v in out.values()), out
    assert "coordinator: Signer[2] failed" in log and "signer 0: abort, Signer[2] failed" in log


@pytest.mark.parametrize("crash", [0, 2])
async def test_the_first_and_last_member_can_fail(crash: int) -> None:
    fns, log = roles(crash=crash)
    async with memory_session(ca.PROTOCOL, families={"Signer": N}) as net:
        out = outcomes(await net.run(fns))
    assert isinstance(out[f"Signer[{crash}]"], Crash)
    assert f"coordinator: Signer[{crash}] failed" in log
    assert sum(line.startswith("signer ") for line in log) == N - 1
