"""Failure branches (crash-stop) at run time: the receive with ``on_failure`` yields a
``..._Failed`` variant when its sender crashes or misses the deadline, the session goes on
without it, and the other roles learn of the failure from the branch's messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, assert_never

import pytest
import trio
from trio.testing import MockClock

from generated.examples import heartbeat as hb
from generated.seed import coordinator_failure_recovery as cfr
from runtime.contract import Endpoint
from runtime.errors import PeerGone
from runtime.memory import RoleResult, memory_session
from tests.runtime.harness import Runner

RoleFn = Callable[[Any], Awaitable[Any]]


class Crash(Exception):
    """The coordinator's simulated crash."""


def roles(rounds: int, crash_after: int | None, stall_after: int | None = None) -> tuple[dict[str, RoleFn], list[str]]:
    """The coordinator beats ``rounds`` times, crashing (or stalling past the deadline)
    before beat number ``crash_after`` (``stall_after``); the log says what each role saw."""
    log: list[str] = []

    async def coordinator(ep: Endpoint) -> hb.Coordinator_End:
        s = hb.start_coordinator(ep)
        n = 0
        while True:
            if n == crash_after:
                raise Crash("coordinator down")
            if n == stall_after:
                await trio.sleep(0.8)  # past the 0.5 s deadline of the heartbeat
            s1 = await s.send_beat(hb.Beat(round=n))
            match await s1.offer():
                case hb.Coordinator_S1_Fine(state=s):
                    n += 1
                case hb.Coordinator_S1_Stop(state=end):
                    return end
                case other:
                    assert_never(other)

    async def monitor(ep: Endpoint) -> hb.Monitor_End:
        s = hb.start_monitor(ep)
        last = -1
        while True:
            match await s.offer():
                case hb.Monitor_S0_Beat(msg=beat, state=s1):
                    if beat.round + 1 < rounds:
                        s2 = await s1.select_more()
                        s3 = await s2.send_fine(hb.Fine(round=beat.round))
                        s = await s3.send_fine(hb.Fine(round=beat.round))
                        last = beat.round
                    else:
                        s4 = await s1.select_done()
                        s5 = await s4.send_stop(hb.Stop())
                        return await s5.send_stop(hb.Stop())
                case hb.Monitor_S0_Failed(peer=peer, state=gone):
                    log.append(f"monitor: {peer} failed")
                    return await gone.send_take_over(hb.TakeOver(last_round=last))
                case other:
                    assert_never(other)

    async def backup(ep: Endpoint) -> hb.Backup_End:
        s = hb.start_backup(ep)
        while True:
            match await s.offer():
                case hb.Backup_S0_Fine(state=s):
                    pass
                case hb.Backup_S0_Stop(state=end):
                    log.append("backup: stopped")
                    return end
                case hb.Backup_S0_TakeOver(msg=t, state=end):
                    log.append(f"backup: takes over after round {t.last_round}")
                    return end
                case other:
                    assert_never(other)

    return {"Coordinator": coordinator, "Monitor": monitor, "Backup": backup}, log


async def run(fns: dict[str, RoleFn]) -> dict[str, Any]:
    async with memory_session(hb.PROTOCOL) as net:
        return outcomes(await net.run(dict(fns)))


def outcomes(results: dict[str, RoleResult]) -> dict[str, Any]:
    return {name: r.error if r.error is not None else r.value for name, r in results.items()}


async def test_without_failure_every_role_reaches_end(run_roles: Runner) -> None:
    fns, log = roles(rounds=3, crash_after=None)
    out = outcomes(await run_roles(hb.PROTOCOL, fns))
    assert {k: type(v).__name__ for k, v in out.items()} == {
        "Coordinator": "Coordinator_End", "Monitor": "Monitor_End", "Backup": "Backup_End",
    }
    assert log == ["backup: stopped"]


async def test_a_crash_takes_the_failure_branch_and_the_survivors_end(run_roles: Runner) -> None:
    """In memory the crash aborts the session at once; over TCP the link closes."""
    fns, log = roles(rounds=5, crash_after=2)
    out = outcomes(await run_roles(hb.PROTOCOL, fns))
    assert isinstance(out["Coordinator"], Crash)
    assert type(out["Monitor"]).__name__ == "Monitor_End"
    assert type(out["Backup"]).__name__ == "Backup_End"
    assert log == ["monitor: Coordinator failed", "backup: takes over after round 1"]


async def test_a_missed_deadline_takes_the_failure_branch(autojump_clock: MockClock) -> None:
    fns, log = roles(rounds=5, crash_after=None, stall_after=1)
    out = await run(fns)
    assert type(out["Monitor"]).__name__ == "Monitor_End"
    assert type(out["Backup"]).__name__ == "Backup_End"
    assert log == ["monitor: Coordinator failed", "backup: takes over after round 0"]
    # The slow coordinator is taken for crashed: nobody answers its late beat.
    assert isinstance(out["Coordinator"], PeerGone)


async def test_a_receive_without_failure_branch_still_fails_the_session() -> None:
    """Only the heartbeat has a failure branch: Backup waiting on Monitor, which crashes,
    still gets PeerGone."""
    fns, _ = roles(rounds=3, crash_after=None)

    async def monitor(ep: Endpoint) -> hb.Monitor_End:
        raise Crash("monitor down")

    fns["Monitor"] = monitor
    out = await run(fns)
    assert isinstance(out["Backup"], PeerGone)
    assert "Monitor" in str(out["Backup"])



# ---------------------------------------------------------------- the seed's recovery


def recovery_roles(crash: bool) -> tuple[dict[str, RoleFn], dict[str, int]]:
    """CoordinatorFailureRecovery: Participant[0] watches the coordinator's heartbeat and
    tells the other participants Alive or, when it crashed, CoordinatorTimeout; then every
    participant bumps the epoch and a new commit-reveal runs; returns each survivor's epoch."""
    epochs: dict[str, int] = {}

    async def coordinator(ep: Endpoint) -> cfr.Coordinator_End:
        if crash:
            raise Crash("coordinator down")
        return await cfr.start_coordinator(ep).send_heartbeat(cfr.Heartbeat(epoch=0))

    async def recover(me: int, told: int, s1: cfr.Participant_S5 | cfr.Participant_S11) -> cfr.Participant_End:
        epoch, s2 = await s1.bump_epoch()
        assert epoch == told + 1
        epochs[f"Participant[{me}]"] = epoch
        value = cfr.Bytes32(bytes([me]) * 32)
        s3 = await s2.send_commit(cfr.Commit(epoch=epoch, digest=cfr.Bytes64(bytes(64))))
        commits, s4 = await s3.recv_commit()
        assert sorted(commits) == [i for i in range(3) if i != me]
        s5 = await s4.send_reveal(cfr.Reveal(epoch=epoch, value=value, nonce=cfr.Bytes32.zero()))
        reveals, end = await s5.recv_reveal()
        assert all(r.epoch == epoch for r in reveals.values())
        return end

    async def watcher(s: cfr.Participant_S0_Part) -> cfr.Participant_End:
        match await s.offer():
            case cfr.Participant_S0_Heartbeat(msg=hb_, state=s1):
                epochs["Participant[0]"] = hb_.epoch
                # Each participation() below is decided by the member's index (0 here):
                # every variant is still handled, as mypy and minuet lint ask.
                match await s1.participation():
                    case cfr.Participant_S1_Takes(state=p1):
                        s2 = await p1.send_alive(cfr.Alive(epoch=hb_.epoch))
                    case cfr.Participant_S1_Skips(state=s2):
                        pass
                    case part1:
                        assert_never(part1)
                match await s2.participation():
                    case cfr.Participant_S2_Skips(state=end):
                        return end
                    case cfr.Participant_S2_Takes(state=p2):
                        return (await p2.recv_alive())[1]
            case cfr.Participant_S0_Failed(peer=peer, state=s3):
                assert peer == "Coordinator"
                match await s3.participation():
                    case cfr.Participant_S3_Takes(state=p3):
                        s4 = await p3.send_coordinator_timeout(cfr.CoordinatorTimeout(epoch=0))
                    case cfr.Participant_S3_Skips(state=s4):
                        pass
                    case part3:
                        assert_never(part3)
                match await s4.participation():
                    case cfr.Participant_S4_Skips(state=s5):
                        return await recover(0, 0, s5)
                    case cfr.Participant_S4_Takes(state=p4):
                        t, s5 = await p4.recv_coordinator_timeout()
                        return await recover(0, t.epoch, s5)
            case other:
                assert_never(other)

    async def participant(ep: Endpoint) -> cfr.Participant_End:
        me = ep.me.index
        assert me is not None
        match await cfr.start_participant(ep).participation():
            case cfr.Participant_S0_Takes(state=s):
                return await watcher(s)
            case cfr.Participant_S0_Skips(state=s10):
                match await s10.offer():
                    case cfr.Participant_S10_Alive(msg=alive, state=end):
                        epochs[f"Participant[{me}]"] = alive.epoch
                        return end
                    case cfr.Participant_S10_CoordinatorTimeout(msg=t, state=s11):
                        return await recover(me, t.epoch, s11)
                    case told:
                        assert_never(told)
            case other:
                assert_never(other)

    fns: dict[str, RoleFn] = {"Coordinator": coordinator}
    fns.update({f"Participant[{i}]": participant for i in range(3)})
    return fns, epochs


@pytest.mark.parametrize("crash", [False, True])
async def test_the_seed_recovery_bumps_the_epoch_only_after_a_failure(crash: bool, run_roles: Runner) -> None:
    """The watcher is a member of the participants' family: the others learn the failure
    from it (knowledge of failure), in memory and over TCP."""
    fns, epochs = recovery_roles(crash)
    out = outcomes(await run_roles(cfr.PROTOCOL, fns, families={"Participant": 3}, params={"N": 3}))
    survivors = {k: v for k, v in out.items() if k != "Coordinator"}
    assert all(type(v).__name__.endswith("_End") for v in survivors.values()), survivors
    assert isinstance(out["Coordinator"], Crash) == crash
    assert epochs == {f"Participant[{i}]": int(crash) for i in range(3)}
