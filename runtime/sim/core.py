"""The simulator's sans-IO core: frames in flight, the seeded scheduler, the fault schedule and
the run's trace. No trio here; ``runtime.sim.network`` is the trio edge that asks this core
what happens next each time every role is blocked.

Determinism: trio runs ready tasks in a random order, so nothing here may depend on the
order in which tasks posted frames or logged events within one round (between two
scheduler decisions). Frames are keyed by (round, sender index, sender's own counter) and
role events are sorted by (member index, counter) before they enter the trace, so a seed
always yields the same decisions and the same trace bytes.
"""

from __future__ import annotations

import json
import random
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final, final

from runtime.errors import ConfigError
from runtime.framing import DATA, Item

TRACE_FORMAT: Final = "minuet-sim-trace/1"
FRAME_FAULTS: Final = ("drop", "delay", "duplicate", "corrupt")
FAULT_KINDS: Final = (*FRAME_FAULTS, "crash", "partition", "byzantine")
POLICIES: Final = ("random", "fifo", "newest", "starve")
_KIND_NAMES: Final = {0: "data", 1: "close", 2: "abort", 16: "gone"}


def _at(now: float, delay: float) -> float:
    """A virtual instant, rounded as the network's clock readings are (``_Net.now``): the
    wait for it must end at a reading that is not a rounding error short of it."""
    return round(now + delay, 9)


@dataclass(frozen=True, slots=True)
class SimFault:
    """One fault of a schedule. ``step`` is the scheduler step it acts at: frame faults act on
    the frame delivered at that step, ``crash`` kills ``role`` before it, ``partition`` cuts
    the members in ``role`` (comma-separated) from the rest for ``delay`` virtual seconds;
    ``byzantine`` makes ``role`` run the scenario's behaviour ``mode`` from the start."""

    kind: str
    step: int = 0
    role: str = ""
    delay: float = 0.0
    mode: str = ""

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigError(f"unknown fault kind {self.kind!r} (one of {', '.join(FAULT_KINDS)})")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v or k in ("kind", "step")}

    @classmethod
    def from_json(cls, obj: object, where: str = "fault") -> SimFault:
        if not isinstance(obj, dict) or not isinstance(obj.get("kind"), str):
            raise ConfigError(f"{where}: a fault is an object with a 'kind'")
        try:
            return cls(
                kind=obj["kind"], step=int(obj.get("step", 0)), role=str(obj.get("role", "")),
                delay=float(obj.get("delay", 0.0)), mode=str(obj.get("mode", "")),
            )
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}: {e}") from None

    def describe(self) -> str:
        if self.kind == "crash":
            return f"crash {self.role} at step {self.step}"
        if self.kind == "partition":
            return f"partition {{{self.role}}} from the rest at step {self.step} for {self.delay:g}s"
        if self.kind == "byzantine":
            return f"byzantine {self.role}: {self.mode}"
        if self.kind == "delay":
            return f"delay the frame of step {self.step} by {self.delay:g}s"
        return f"{self.kind} the frame of step {self.step}"


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """How a seed draws faults: each step fires one with probability ``rate`` (at most
    ``limit`` per run), of a kind drawn from ``kinds``."""

    kinds: tuple[str, ...] = ()
    rate: float = 0.05
    limit: int = 3

    def __post_init__(self) -> None:
        for k in self.kinds:
            if k not in FAULT_KINDS:
                raise ConfigError(f"unknown fault kind {k!r} (one of {', '.join(FAULT_KINDS)})")
        if not 0.0 <= self.rate <= 1.0:
            raise ConfigError("the fault rate is a probability between 0 and 1")


@dataclass(slots=True)
class Flight:
    """A frame sent and not delivered yet."""

    key: tuple[int, int, int]  # (round posted, sender index, sender's counter): canonical order
    sender: str
    receiver: str
    item: Item
    ready_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """Put ``item`` into the inbox ``receiver`` keeps for ``sender``."""

    sender: str
    receiver: str
    item: Item


@dataclass(frozen=True, slots=True)
class Decision:
    """What the network does at one scheduler step (or why it waits)."""

    deliveries: tuple[Delivery, ...] = ()
    crash: str | None = None
    wait_until: float | None = None  # nothing ready: sleep until then (or a new frame)
    idle: bool = False  # nothing in flight at all


@final
class Scheduler:
    """Frames in flight between the members of one simulated session and the seeded choice
    of what happens next; records the run's trace (a list of JSON objects)."""

    def __init__(
        self,
        members: Sequence[str],
        seed: int,
        *,
        policy: str = "random",
        timeout: float = 30.0,
        faults: FaultConfig | None = None,
        schedule: Sequence[SimFault] | None = None,
        forced: Sequence[tuple[str, str]] | None = None,
        victim: str | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise ConfigError(f"unknown policy {policy!r} (one of {', '.join(POLICIES)})")
        self.members = list(members)
        self._index = {m: i for i, m in enumerate(self.members)}
        self.seed = seed
        self.policy = policy
        self.timeout = timeout
        # Separate streams: an explicit schedule (shrinking, replay) leaves the scheduler's
        # own choices where the seed put them.
        self._rng = random.Random(f"minuet-sim/{seed}/schedule")
        self._fault_rng = random.Random(f"minuet-sim/{seed}/faults")
        self.fault_config = faults or FaultConfig()
        self.explicit = schedule is not None
        self._pending: dict[int, list[SimFault]] = {}
        for f in schedule or ():
            if f.kind != "byzantine":
                self._pending.setdefault(f.step, []).append(f)
        self.fired: list[SimFault] = [f for f in schedule or () if f.kind == "byzantine"]
        self._forced = deque(forced) if forced is not None else None
        self.victim = victim
        if policy == "starve" and victim is None:
            self.victim = self._rng.choice(self.members)
        self.links: dict[tuple[str, str], deque[Flight]] = {}
        self._counters = [0] * len(self.members)
        self.step = 0
        self.running: set[str] = set(self.members)
        self._cut: tuple[frozenset[str], float] | None = None  # partition: one side, heal time
        self.trace: list[dict[str, Any]] = []
        self._round: list[tuple[int, int, dict[str, Any]]] = []
        self._role_counter = [0] * len(self.members)
        self.diverged: str | None = None
        self._drawn_for = 0  # the last step member faults were drawn for
        self._frame_steps: set[int] = set()  # steps whose scheduled faults were sorted out
        self._frame_faults: dict[int, list[SimFault]] = {}

    # ------------------------------------------------------------------ inputs

    def draw_byzantine(self, candidates: Mapping[str, Sequence[str]], limit: int) -> None:
        """Random mode: pick up to ``limit`` Byzantine members among ``candidates``
        (mode -> members), before the run starts."""
        if self.explicit or "byzantine" not in self.fault_config.kinds or limit <= 0:
            return
        options = sorted((m, mode) for mode, ms in candidates.items() for m in ms)
        if not options or self._fault_rng.random() >= min(1.0, self.fault_config.rate * 10):
            return
        count = self._fault_rng.randint(1, min(limit, len(options)))
        chosen: dict[str, str] = {}
        for m, mode in self._fault_rng.sample(options, len(options)):
            if len(chosen) < count and m not in chosen:
                chosen[m] = mode
        self.fired += [SimFault("byzantine", 0, m, mode=mode) for m, mode in sorted(chosen.items())]

    @property
    def byzantine(self) -> dict[str, str]:
        return {f.role: f.mode for f in self.fired if f.kind == "byzantine"}

    def post(self, sender: str, receiver: str, item: Item, now: float) -> None:
        """A member sent a frame (called by its link, in any task order within a round)."""
        i = self._index[sender]
        n = self._counters[i]
        self._counters[i] = n + 1
        ready = now
        if self.victim is not None and receiver == self.victim and self.policy == "starve":
            # Starved: delivered just before the victim's deadline would pass.
            ready = _at(now, 0.9 * self.timeout)
        q = self.links.get((sender, receiver))
        if q is None:
            q = self.links[(sender, receiver)] = deque()
        q.append(Flight((self.step, i, n), sender, receiver, item, ready))
        kind, seq, label, data, _crc = item
        self.log_role(sender, {
            "kind": "post", "role": sender, "peer": receiver, "frame": _KIND_NAMES.get(kind, str(kind)),
            "seq": seq, "label": label if kind == DATA else "",
            "size": len(data) if isinstance(data, bytes) else 0, "time": now,
        })

    def log_role(self, role: str, event: dict[str, Any]) -> None:
        """An event at a member; enters the trace in canonical order at the next step."""
        i = self._index[role]
        n = self._role_counter[i]
        self._role_counter[i] = n + 1
        self._round.append((i, n, event))

    def finished(self, role: str) -> None:
        self.running.discard(role)

    def flush(self) -> None:
        """Move this round's member events into the trace, in canonical order."""
        if self._round:
            self._round.sort(key=lambda e: (e[0], e[1]))
            for _i, _n, ev in self._round:
                ev["step"] = self.step
                self.trace.append(ev)
            self._round.clear()

    def note(self, event: dict[str, Any]) -> None:
        """An event of the network itself, at the current step."""
        event["step"] = self.step
        self.trace.append(event)

    # ------------------------------------------------------------------ the decision

    def _cut_off(self, f: Flight, now: float) -> bool:
        if self._cut is None:
            return False
        side, heal = self._cut
        if now >= heal:
            self._cut = None
            return False
        return (f.sender in side) != (f.receiver in side)

    def _ready(self, now: float) -> list[Flight]:
        heads = []
        for key in sorted(self.links):
            q = self.links[key]
            if q and q[0].ready_at <= now and not self._cut_off(q[0], now):
                heads.append(q[0])
        return heads

    def _next_time(self, now: float) -> float | None:
        """When a head frame that is not ready now becomes ready (its delay ends or the
        partition holding it heals); None if nothing is in flight."""
        times = []
        for q in self.links.values():
            if q:
                f = q[0]
                if f.ready_at > now:
                    times.append(f.ready_at)
                elif self._cut is not None:
                    times.append(self._cut[1])
        return min(times) if times else None

    def _choose(self, ready: list[Flight]) -> Flight:
        if self._forced is not None:
            return self._choose_forced(ready)
        if self.policy == "fifo":
            return min(ready, key=lambda f: f.key)
        if self.policy == "newest":
            return max(ready, key=lambda f: f.key)
        if self.policy == "starve" and self.victim is not None:
            others = [f for f in ready if self.victim not in (f.sender, f.receiver)]
            if others:
                ready = others
        return ready[self._rng.randrange(len(ready))]

    def _choose_forced(self, ready: list[Flight]) -> Flight:
        assert self._forced is not None
        if self._forced:
            want = self._forced[0]
            for f in ready:
                if (f.sender, f.receiver) == want:
                    self._forced.popleft()
                    return f
        # Frames a memory/TCP recording does not list (goodbyes, aborts) go first.
        control = [f for f in ready if f.item[0] != DATA]
        if control:
            return min(control, key=lambda f: f.key)
        if self._forced and self.diverged is None:
            self.diverged = (
                f"step {self.step + 1}: the recording delivers {self._forced[0][0]} -> "
                f"{self._forced[0][1]} next, but no such frame is in flight"
            )
        return min(ready, key=lambda f: f.key)

    def _draw_frame_fault(self, f: Flight) -> SimFault | None:
        """Random mode: maybe a fault on the frame chosen for this step."""
        cfg = self.fault_config
        kinds = [k for k in cfg.kinds if k in FRAME_FAULTS]
        if self.explicit or not kinds or f.item[0] != DATA or len(self.fired) >= cfg.limit:
            return None
        if self._fault_rng.random() >= cfg.rate:
            return None
        kind = self._fault_rng.choice(kinds)
        delay = round(self._fault_rng.uniform(0.1, 1.5) * self.timeout, 3) if kind == "delay" else 0.0
        return SimFault(kind, self.step, delay=delay)

    def _draw_member_fault(self, step: int) -> None:
        """Random mode: maybe a crash or partition starting at ``step`` (drawn once per step)."""
        cfg = self.fault_config
        kinds = [k for k in cfg.kinds if k in ("crash", "partition")]
        if self.explicit or not kinds or self._drawn_for >= step or len(self.fired) >= cfg.limit:
            return
        self._drawn_for = step
        # Half the rate: these act on the whole run, frame faults on one frame.
        if self._fault_rng.random() >= cfg.rate / 2:
            return
        kind = self._fault_rng.choice(kinds)
        alive = sorted(self.running, key=self._index.__getitem__)
        if kind == "crash" and alive:
            self._pending.setdefault(step, []).append(SimFault("crash", step, self._fault_rng.choice(alive)))
        elif kind == "partition" and len(self.members) > 1:
            side = self._fault_rng.sample(self.members, max(1, len(self.members) // 2))
            side.sort(key=self._index.__getitem__)
            delay = round(self._fault_rng.uniform(0.2, 1.5) * self.timeout, 3)
            self._pending.setdefault(step, []).append(SimFault("partition", step, ",".join(side), delay=delay))

    def decide(self, now: float) -> Decision:
        """Called whenever every member is blocked: the next step, or how long to wait."""
        self.flush()
        step = self.step + 1
        self._draw_member_fault(step)
        for f in self._pending.pop(step, ()) if step not in self._frame_steps else ():
            if f.kind in FRAME_FAULTS:
                self._frame_faults.setdefault(step, []).append(f)
            elif f.kind == "crash" and f.role in self.running:
                self.step = step
                self.fired.append(f)
                self.note({"kind": "fault", "fault": f.to_json(), "role": f.role, "time": now})
                self.running.discard(f.role)
                return Decision(crash=f.role)
            elif f.kind == "partition" and self._cut is None and f.delay > 0:
                self._cut = (frozenset(f.role.split(",")), _at(now, f.delay))
                self.fired.append(f)
                self.note({"kind": "fault", "fault": f.to_json(), "time": now})
        self._frame_steps.add(step)
        ready = self._ready(now)
        if not ready:
            nxt = self._next_time(now)
            if nxt is None:
                return Decision(idle=True)
            return Decision(wait_until=nxt)
        chosen = self._choose(ready)
        self.step = step
        fault: SimFault | None = None
        if self.explicit:
            for f in self._frame_faults.pop(step, ()):
                if chosen.item[0] == DATA and fault is None:
                    fault = f
        else:
            fault = self._draw_frame_fault(chosen)
        return self._deliver(chosen, fault, now)

    def _deliver(self, f: Flight, fault: SimFault | None, now: float) -> Decision:
        q = self.links[(f.sender, f.receiver)]
        kind, seq, label, data, _crc = f.item
        # "choice" marks the one event per step that says which link the step served:
        # what a replay forces.
        base = {
            "kind": "deliver", "role": f.receiver, "peer": f.sender, "frame": _KIND_NAMES.get(kind, str(kind)),
            "seq": seq, "label": label if kind == DATA else "", "time": now, "choice": True,
        }
        if fault is None:
            q.popleft()
            self.note(base)
            return Decision(deliveries=(Delivery(f.sender, f.receiver, f.item),))
        self.fired.append(fault)
        gone = fault.kind in ("drop", "delay")
        self.note({"kind": "fault", "fault": fault.to_json(), "role": f.receiver, "peer": f.sender,
                   "seq": seq, "label": label, "time": now, **({"choice": True} if gone else {})})
        if fault.kind == "drop":
            q.popleft()
            return Decision()
        if fault.kind == "delay":
            f.ready_at = _at(now, fault.delay)
            return Decision()
        q.popleft()
        if fault.kind == "duplicate":
            self.note(base)
            self.note({**base, "choice": False, "duplicate": True})
            return Decision(deliveries=(Delivery(f.sender, f.receiver, f.item),) * 2)
        # corrupt: the checksum of the original travels with the damaged bytes, as an AEAD
        # tag would, so the receiver detects it.
        assert isinstance(data, bytes)
        pos = self._rng.randrange(max(1, len(data) * 8))
        damaged = (data[: pos // 8] + bytes([data[pos // 8] ^ (1 << (pos % 8))]) + data[pos // 8 + 1 :]) if data else b"\x01"
        self.note(base)
        return Decision(deliveries=(Delivery(f.sender, f.receiver, Item(kind, seq, label, damaged, zlib.crc32(data))),))

    def in_flight(self) -> int:
        return sum(len(q) for q in self.links.values())


def shrink(schedule: Sequence[SimFault], fails: Any) -> list[SimFault]:
    """A 1-minimal sub-schedule of ``schedule`` on which ``fails(sub)`` is still true
    (delta debugging: drop halves, then single faults, until nothing can go)."""
    current = list(schedule)
    n = 2
    while len(current) >= 2:
        chunk = max(1, len(current) // n)
        removed = False
        for start in range(0, len(current), chunk):
            candidate = current[:start] + current[start + chunk :]
            if fails(candidate):
                current = candidate
                n = max(n - 1, 2)
                removed = True
                break
        if not removed:
            if chunk == 1:
                break
            n = min(n * 2, len(current))
    if len(current) == 1 and fails([]):
        return []
    return current


def trace_lines(events: Iterable[dict[str, Any]]) -> str:
    """The trace as JSON lines (sorted keys): the bytes a seed must reproduce."""
    return "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
