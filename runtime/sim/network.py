"""The simulation transport (trio edge): every member of a session in one ``trio.run`` under
a ``MockClock`` with autojump, frames handed to ``runtime.sim.core.Scheduler`` instead of
inboxes, one delivery each time every task is blocked.

The role programs are the ones the memory and TCP transports run: they get a
``SessionEndpoint`` (a subclass that also logs which generated state each call is made in).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, final

import trio
import trio.testing

from runtime.contract import Peer, ProtocolInfo, Step
from runtime.crypto.rand import DeterministicRandom, default_random, seeded_for_tests
from runtime.endpoint import Link, Post, SessionEndpoint
from runtime.errors import ConfigError, InjectedCrash, LocalViolation, MinuetError
from runtime.extensions import standard_registry
from runtime.faults import FaultTarget
from runtime.framing import ABORT, CLOSE, DATA, GONE, Item
from runtime.inbox import Deadlines, Inbox
from runtime.memory import RoleFn, RoleResult
from runtime.session_core import SessionInfo
from runtime.sim.core import TRACE_FORMAT, FaultConfig, Scheduler, SimFault

M = TypeVar("M")


class SimHang(MinuetError):
    """A member was still running when the run's virtual time or step limit ran out."""


@final
class _SimLink(Link, FaultTarget):
    __slots__ = ("_net", "_open", "_receiver", "_sender", "_seq")

    def __init__(self, net: _Net, sender: str, receiver: str) -> None:
        super().__init__(receiver)
        self._net = net
        self._sender = sender
        self._receiver = receiver
        self._seq = 0
        self._open = True

    def nowait_sender(self) -> Post:
        return self._post

    def _post(self, kind: int, label: str, data: object) -> None:
        if not self._open:
            raise trio.ClosedResourceError(f"link to {self.peer_name} is closed")
        self._put(kind, label, data)

    def _put(self, kind: int, label: str, data: object, seq: int | None = None) -> None:
        if seq is None:
            seq = self._seq
            self._seq = seq + 1
        self._net.post(self._sender, self._receiver, Item(kind, seq, label, data, -1))

    async def send(self, kind: int, label: str, data: object, ev: object) -> None:
        self._post(kind, label, data)

    async def close(self) -> None:
        if self._open:
            self._open = False
            self._put(CLOSE, "", None, self._seq)

    def abort_nowait(self, reason: str) -> None:
        if self._open:
            self._open = False
            self._put(ABORT, reason, None, self._seq)

    def crash(self) -> None:
        if self._open:
            self._open = False
            self._put(GONE, f"connection lost: {self._sender} vanished without closing the session", None, -1)

    def damage(self, wire: object, position: int) -> object:
        return wire  # the simulator damages frames itself (Scheduler), not through middleware


@final
class SimEndpoint(SessionEndpoint):
    """A ``SessionEndpoint`` that logs, for the trace, the generated state each call is made
    in (``Step.state`` is the state class's name) and what came of it."""

    __slots__ = ("_dead", "_net")

    def bind_log(self, net: _Net) -> None:
        self._net = net
        self._dead = False  # crashed: what the interrupted call raises is not news

    def _log(self, ev: dict[str, Any]) -> None:
        ev["time"] = self._net.now()
        self._net.sched.log_role(self.me_name, ev)

    def _at(self, kind: str, peer: Peer, step: Step, label: str = "") -> dict[str, Any]:
        return {"kind": kind, "role": self.me_name, "peer": str(peer), "state": step.state,
                "message": label or step.message, "spec": step.spec}

    async def send(self, to: Peer, label: str, payload: M, encode: Callable[[M], bytes], step: Step) -> None:
        self._log(self._at("send", to, step, label))
        try:
            await super().send(to, label, payload, encode, step)
        except MinuetError as e:
            self._failed(to, step, e)
            raise

    async def recv(
        self,
        frm: Peer,
        decoders: Mapping[str, Callable[[bytes], object]],
        step: Step,
        *,
        failable: bool = False,
    ) -> tuple[str, object]:
        self._log(self._at("wait", frm, step))
        try:
            label, msg = await super().recv(frm, decoders, step, failable=failable)
        except MinuetError as e:
            self._failed(frm, step, e)
            raise
        self._log(self._at("recv", frm, step, label))
        return label, msg

    async def close(self) -> None:
        was_done = self.done
        try:
            await super().close()
        except MinuetError as e:
            self._log({"kind": "error", "role": self.me_name, "state": f"{self.me.role}_End",
                       "error": f"{type(e).__name__}: {e}"})
            raise
        if not was_done:
            self._log({"kind": "end", "role": self.me_name, "state": f"{self.me.role}_End"})

    def _failed(self, peer: Peer, step: Step, e: BaseException) -> None:
        if self._dead:
            return
        ev = self._at("error", peer, step)
        ev["error"] = f"{type(e).__name__}: {e}"
        self._log(ev)

    def crash_now(self, reason: str) -> None:
        self._dead = True
        self._log({"kind": "error", "role": self.me_name, "error": f"InjectedCrash: {reason}"})
        self._crash(InjectedCrash(reason))


@final
class _Net:
    def __init__(self, sched: Scheduler) -> None:
        self.sched = sched
        self.wake = trio.Event()
        # Several sessions may share one trio run (and clock): the scheduler and the trace
        # see time since this session started, rounded so that it does not matter where
        # the clock was when the session started.
        self.t0 = trio.current_time()

    def now(self) -> float:
        return round(trio.current_time() - self.t0, 9)

    def post(self, sender: str, receiver: str, item: Item) -> None:
        self.sched.post(sender, receiver, item, self.now())
        self.wake.set()


@dataclass
class SimResult:
    """One simulated run: every role's outcome, the faults that fired and the trace."""

    seed: int
    results: dict[str, RoleResult]
    faults: list[SimFault]
    trace: list[dict[str, Any]]
    steps: int
    time: float
    hung: list[str] = field(default_factory=list)
    diverged: str | None = None
    byzantine: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SessionSpec:
    """The session a scenario runs: what ``memory_session`` takes."""

    protocol: ProtocolInfo
    params: Mapping[str, int] = field(default_factory=dict)
    families: Mapping[str, int] = field(default_factory=dict)
    capabilities: Mapping[str, Collection[str]] | None = None
    budget: int | None = None
    timeout: float = 30.0
    epoch: int = 0


RolesFactory = Callable[[dict[str, str]], Mapping[str, RoleFn]]


@final
class ContextRandom:
    """A ``RandomSource`` for role programs that share one: it draws from whoever is drawing
    (a simulated member's own seeded stream, or the run's setup stream), so what a member
    gets does not depend on the order trio runs the members in."""

    __slots__ = ()

    def random_bytes(self, n: int) -> bytes:
        return default_random().random_bytes(n)


def role_random(seed: int, role: str) -> DeterministicRandom:
    return DeterministicRandom(f"minuet-sim/{seed}/role/{role}")


async def run_session(
    spec: SessionSpec,
    factory: RolesFactory,
    seed: int,
    *,
    policy: str = "random",
    faults: FaultConfig | None = None,
    schedule: Sequence[SimFault] | None = None,
    forced: Sequence[tuple[str, str]] | None = None,
    byzantine: Mapping[str, Sequence[str]] | None = None,
    max_byzantine: int = 0,
    max_steps: int = 100_000,
    time_limit: float | None = None,
    header: Mapping[str, Any] | None = None,
) -> SimResult:
    """One simulated session; must run under a ``MockClock`` (``simulate`` sets one up).

    ``factory`` gets the Byzantine members (member -> behaviour) and returns the role
    programs. Crypto randomness is seeded per member (TEST MODE, see ``seeded_for_tests``).
    """
    info = SessionInfo.build(
        spec.protocol, spec.params, spec.families, f"sim-{seed}", spec.epoch, spec.timeout
    )
    names = [str(p) for p in info.members]
    sched = Scheduler(names, seed, policy=policy, timeout=spec.timeout, faults=faults,
                      schedule=schedule, forced=forced)
    sched.draw_byzantine(byzantine or {}, max_byzantine)
    try:
        with seeded_for_tests(DeterministicRandom(f"minuet-sim/{seed}/setup")):
            roles = dict(factory(sched.byzantine))
    except Exception as e:  # the scenario's own code: say whose, not a traceback
        raise ConfigError(f"the scenario's role programs could not be built: {type(e).__name__}: {e}") from e
    unknown = sorted(set(roles) - set(names))
    if unknown:
        raise ConfigError(f"role programs for {unknown}: not members of this {info.protocol.name} session")
    missing = [n for n in names if n not in roles]
    if missing:
        raise ConfigError(f"no role program for {', '.join(missing)} (every member needs one)")
    sched.note({
        "kind": "header", "format": TRACE_FORMAT, "protocol": info.protocol.name,
        "spec": info.protocol.spec, "seed": seed, "policy": policy, "victim": sched.victim,
        "members": names, "params": dict(info.params), "families": dict(info.families),
        "timeout": spec.timeout, "test_mode_randomness": True,
        "byzantine": sched.byzantine, **(header or {}),
    })
    net = _Net(sched)
    deadlines = Deadlines(spec.timeout)
    inboxes = {(a, b): Inbox(deadlines) for a in names for b in names if a != b}
    registry = standard_registry(spec.capabilities, spec.budget, None)
    endpoints: dict[str, SimEndpoint] = {}
    for p in info.members:
        me = str(p)
        links: dict[Peer, Link] = {q: _SimLink(net, me, str(q)) for q in info.members if q != p}
        ep = SimEndpoint(info, p, links, {q: inboxes[(str(q), me)] for q in info.members if q != p},
                         registry=registry)
        ep.bind_log(net)
        endpoints[me] = ep
    results: dict[str, RoleResult] = {}
    scopes: dict[str, trio.CancelScope] = {}

    async def one(name: str, fn: RoleFn) -> None:
        ep = endpoints[name]
        res = results[name] = RoleResult(name)
        with seeded_for_tests(role_random(seed, name)), trio.CancelScope() as scope:
            scopes[name] = scope
            try:
                res.value = await fn(ep)
                if not ep.done:
                    res.error = LocalViolation(
                        f"{name}: the role function returned without reaching the end of the protocol"
                    )
            except Exception as e:
                res.error = e
                ep.abort(f"role function raised {type(e).__name__}: {e}")
            finally:
                ep.abort("role function returned without reaching the end of the protocol")
        if name in crashed:  # whatever the interrupted call raised, the member died
            res.error = InjectedCrash(f"{name} crashed (simulated) at step {crashed[name]}")
        sched.finished(name)
        outcome = {"kind": "result", "role": name, "ok": res.error is None,
                   "value": type(res.value).__name__}
        if res.error is not None:
            outcome["error"] = f"{type(res.error).__name__}: {res.error}"
        sched.log_role(name, outcome)

    crashed: dict[str, int] = {}
    hung: list[str] = []

    async def scheduler(role_scope: trio.CancelScope) -> None:
        stalled = 0  # waits that ended with neither a new frame nor time passing
        while True:
            await trio.testing.wait_all_tasks_blocked()
            if not sched.running:
                return
            if sched.step >= max_steps or stalled > 100:
                hung.extend(sorted(sched.running))
                role_scope.cancel()
                return
            d = sched.decide(net.now())
            if d.crash is not None:
                crashed[d.crash] = sched.step
                endpoints[d.crash].crash_now(f"{d.crash} crashed (simulated) at step {sched.step}")
                scopes[d.crash].cancel()
                continue
            for dl in d.deliveries:
                inboxes[(dl.sender, dl.receiver)].put(dl.item)
            if d.deliveries or not (d.idle or d.wait_until is not None):
                continue
            net.wake = trio.Event()
            before = net.now()
            with trio.move_on_at(net.t0 + d.wait_until if d.wait_until is not None else math.inf):
                await net.wake.wait()
            stalled = stalled + 1 if net.now() == before and not net.wake.is_set() else 0

    limit = time_limit if time_limit is not None else spec.timeout * 40
    async with trio.open_nursery() as outer:
        outer.start_soon(deadlines.run)
        with trio.move_on_at(trio.current_time() + limit) as timer:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(scheduler, nursery.cancel_scope)
                for name in names:
                    nursery.start_soon(one, name, roles[name])
        if timer.cancelled_caught:
            hung.extend(sorted(sched.running))
        outer.cancel_scope.cancel()
    for name in hung:
        results[name] = RoleResult(name, error=SimHang(
            f"{name} still running at virtual time {net.now():g}s, step {sched.step}"
        ))
    sched.flush()
    if hung:
        sched.note({"kind": "hang", "roles": hung, "time": net.now()})
    return SimResult(seed, results, list(sched.fired), sched.trace, sched.step,
                     net.now(), hung, sched.diverged, sched.byzantine)


def simulate(spec: SessionSpec, factory: RolesFactory, seed: int, **options: Any) -> SimResult:
    """``run_session`` in a fresh ``trio.run`` with virtual time (deadlines fire at once)."""
    out: list[SimResult] = []
    simulate_many(spec, factory, [seed], out.append, **options)
    return out[0]


def simulate_many(
    spec: SessionSpec, factory: RolesFactory, seeds: Iterable[int],
    on_result: Callable[[SimResult], object], **options: Any,
) -> None:
    """One ``run_session`` per seed, one after the other in a single ``trio.run`` with
    virtual time (starting trio costs about as much as a small session); each result goes
    to ``on_result`` as it comes."""
    async def main() -> None:
        for seed in seeds:
            on_result(await run_session(spec, factory, seed, **options))

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


__all__ = ["DATA", "ContextRandom", "SessionSpec", "SimEndpoint", "SimHang", "SimResult", "run_session", "simulate", "simulate_many"]
