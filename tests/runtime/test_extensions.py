"""The extension registry enforces capability, flow cost and journal annotations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from runtime.contract import Peer, Step
from runtime.endpoint import SessionEndpoint
from runtime.errors import BudgetExhausted, CapabilityDenied, LocalViolation, SessionClosed
from runtime.extensions import Hook, HookScope, Journal, standard_registry
from runtime.memory import memory_session
from tests.runtime.roles import ping_pong as pp

GUARDED = Step("PingPong", "Client", "Client_S1", "Ping", "t.yaml:1:1", capability="ping", flow_cost=40,
               journal_facts=("pinged",), journal_merge="last")
RECV = Step("PingPong", "Server", "Server_S1", "Ping", "t.yaml:1:1", journal_facts=("got_ping",))


def raw(b: bytes) -> bytes:
    return b


async def test_capability_denied_sends_nothing() -> None:
    async with memory_session(pp.PROTOCOL, capabilities={"Server": ["ping"]}, timeout=0.2) as net:
        c, s = net.endpoint("Client"), net.endpoint("Server")
        try:
            await c.send(Peer("Server"), "Ping", b"x", raw, GUARDED)
        except CapabilityDenied as e:
            assert e.role == "Client" and e.capability == "ping"
        else:
            raise AssertionError("expected CapabilityDenied")
        # Nothing was sent: the server learns only that the client's session failed.
        with trio.fail_after(5):
            try:
                await s.recv(Peer("Client"), {"Ping": raw}, RECV)
            except Exception as e:
                assert "CapabilityDenied" in str(e)
        assert net.journal is not None and net.journal.entries == []


async def test_budget_charged_then_exhausted() -> None:
    async with memory_session(pp.PROTOCOL, capabilities={"Client": ["ping"]}, budget=100) as net:
        c, s = net.endpoint("Client"), net.endpoint("Server")
        await c.send(Peer("Server"), "Ping", b"1", raw, GUARDED)
        await c.send(Peer("Server"), "Ping", b"2", raw, GUARDED)
        try:
            await c.send(Peer("Server"), "Ping", b"3", raw, GUARDED)
        except BudgetExhausted as e:
            assert e.cost == 40 and e.remaining == 20
        else:
            raise AssertionError("expected BudgetExhausted")
        got = [await s.recv(Peer("Client"), {"Ping": raw}, RECV) for _ in range(2)]
        assert [m for _, m in got] == [b"1", b"2"]  # the third never left
        with pytest.raises(SessionClosed):  # the denied send failed the session
            await c.send(Peer("Server"), "Ping", b"4", raw, pp.STEP_PING)


async def test_no_cost_is_free() -> None:
    async with memory_session(pp.PROTOCOL, budget=0) as net:
        c = net.endpoint("Client")
        net.endpoint("Server")
        for _ in range(10):
            await c.send(Peer("Server"), "Ping", b"", raw, pp.STEP_PING)


async def test_journal_records_facts(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl")
    async with memory_session(pp.PROTOCOL, capabilities={"Client": ["ping"]}, journal=journal, epoch=3) as net:
        c, s = net.endpoint("Client"), net.endpoint("Server")
        await c.send(Peer("Server"), "Ping", b"1", raw, GUARDED)
        await c.send(Peer("Server"), "Ping", b"2", raw, GUARDED)
        await s.recv(Peer("Client"), {"Ping": raw}, RECV)
    lines = [json.loads(x) for x in (tmp_path / "j.jsonl").read_text().splitlines()]
    assert [(e["role"], e["fact"], e["epoch"], e["protocol"]) for e in lines] == [
        ("Client", "pinged", 3, "PingPong"), ("Client", "pinged", 3, "PingPong"),
        ("Server", "got_ping", 3, "PingPong"),
    ]
    assert lines[0]["step"] == "Ping@t.yaml:1:1"
    assert len(journal.facts()["pinged"]) == 1  # journal_merge: last


async def test_user_hook() -> None:
    class NoBigPayloads(Hook):
        def __init__(self, scope: HookScope) -> None:
            self.scope = scope
            self.sent: list[str] = []

        def before_send(self, step: Step, to: Peer, label: str) -> None:
            if label == "Forbidden":
                raise LocalViolation(f"{self.scope.me} may not send {label}")

        def after_send(self, step: Step, to: Peer, label: str) -> None:
            self.sent.append(label)

    hooks: list[NoBigPayloads] = []
    reg = standard_registry()

    @reg.register
    def factory(scope: HookScope) -> Hook:
        h = NoBigPayloads(scope)
        hooks.append(h)
        return h

    async with memory_session(pp.PROTOCOL, registry=reg) as net:
        c = net.endpoint("Client")
        net.endpoint("Server")
        await c.send(Peer("Server"), "Ping", b"", raw, pp.STEP_PING)
        try:
            await c.send(Peer("Server"), "Forbidden", b"", raw, pp.STEP_PING)
        except LocalViolation:
            pass
        else:
            raise AssertionError("hook did not run")
    assert hooks[0].sent == ["Ping"]


async def test_journal_is_written_when_the_session_ends_not_on_the_send_path(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    async with memory_session(pp.PROTOCOL, capabilities={"Client": ["ping"]}, journal=journal) as net:
        c, s = net.endpoint("Client"), net.endpoint("Server")
        await c.send(Peer("Server"), "Ping", b"1", raw, GUARDED)
        assert not path.exists()  # buffered: the send wrote nothing
        await s.recv(Peer("Client"), {"Ping": raw}, RECV)
        assert [e["fact"] for e in journal.entries] == ["pinged", "got_ping"]  # reading flushes
    assert [e["fact"] for e in Journal.load(path)] == ["pinged", "got_ping"]


@pytest.mark.parametrize("how", ["fails", "cancelled"])
async def test_no_fact_is_lost_when_a_session_fails_or_is_cancelled(tmp_path: Path, how: str) -> None:
    path = tmp_path / f"{how}.jsonl"
    journal = Journal(path)

    async def client(ep: object) -> None:
        assert isinstance(ep, SessionEndpoint)
        await ep.send(Peer("Server"), "Ping", b"1", raw, GUARDED)
        await ep.send(Peer("Server"), "Ping", b"2", raw, GUARDED)
        if how == "fails":
            raise RuntimeError("the role broke")
        await trio.sleep_forever()

    async def server(ep: object) -> None:
        assert isinstance(ep, SessionEndpoint)
        await ep.recv(Peer("Client"), {"Ping": raw}, RECV)
        await ep.recv(Peer("Client"), {"Ping": raw}, pp.STEP_PING)
        # Waits for a third Ping: fails with the client's session, or is cancelled.
        await ep.recv(Peer("Client"), {"Ping": raw}, pp.STEP_PING)

    async with memory_session(pp.PROTOCOL, capabilities={"Client": ["ping"]}, journal=journal,
                              timeout=5) as net:
        with trio.move_on_after(0.2 if how == "cancelled" else 5):
            await net.run({"Client": client, "Server": server})
    facts = sorted((e["role"], e["fact"]) for e in Journal.load(path))
    assert facts == [("Client", "pinged"), ("Client", "pinged"), ("Server", "got_ping")], how


async def test_journal_without_a_file_formats_when_read() -> None:
    journal = Journal()
    async with memory_session(pp.PROTOCOL, capabilities={"Client": ["ping"]}, journal=journal) as net:
        c, s = net.endpoint("Client"), net.endpoint("Server")
        await c.send(Peer("Server"), "Ping", b"1", raw, GUARDED)
        await s.recv(Peer("Client"), {"Ping": raw}, RECV)
        s.abort("test")  # the session ends: nothing to write, so nothing is formatted yet
        assert journal._entries == []
    assert [(e["role"], e["fact"]) for e in journal.entries] == [("Client", "pinged"), ("Server", "got_ping")]
