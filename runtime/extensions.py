"""Extension registry: hooks that enforce a step's annotations (sans-IO).

Built in: ``guard_capability`` (``CapabilityHook``), ``flow_cost`` (``BudgetHook``) and
``journal_facts`` / ``journal_merge`` (``JournalHook``). Users register more with
``Registry.register(factory)``; a factory is called once per endpoint with its
``HookScope`` (so per-session state such as a budget lives in the hook) and returns a
``Hook``. For every step the endpoint asks each hook once whether it ``applies``; steps no
hook applies to cost nothing after that.

``before_send`` runs before anything is encoded or sent; raising there (a
``LocalViolation``) means nothing left. Hooks must check everything before changing state,
so a denied send has no side effects. Hooks enforce what a step says; whatever only
observes traffic is a middleware (docs/runtime.md, "Hook or middleware?").
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

from runtime.contract import Peer, Step
from runtime.errors import BudgetExhausted, CapabilityDenied


@dataclass(frozen=True, slots=True)
class HookScope:
    """The endpoint a hook instance serves."""

    protocol: str
    session_id: str
    epoch: int
    me: Peer


class Hook:
    """Base hook: override what you need."""

    def applies(self, step: Step) -> bool:
        return True

    def before_send(self, step: Step, to: Peer, label: str) -> None:
        """May raise a LocalViolation to stop the send; must not change state then."""

    def after_send(self, step: Step, to: Peer, label: str) -> None:
        """The message has been handed to the transport."""

    def after_recv(self, step: Step, frm: Peer, label: str) -> None:
        """A message was received and decoded."""

    def flush(self) -> None:
        """The session ended (closed, failed, aborted or cancelled): write out anything
        buffered. The endpoint calls it once, on the trio side, never on the send path."""


HookFactory = Callable[[HookScope], Hook]


@final
class Registry:
    """An ordered, extensible list of hook factories."""

    def __init__(self, factories: Iterable[HookFactory] = ()) -> None:
        self._factories: list[HookFactory] = list(factories)
        self.journal: Journal | None = None  # set by standard_registry

    def register(self, factory: HookFactory) -> HookFactory:
        """Add a hook factory (usable as a decorator); hooks run in registration order."""
        self._factories.append(factory)
        return factory

    def bind(self, scope: HookScope) -> tuple[Hook, ...]:
        return tuple(f(scope) for f in self._factories)

    def __len__(self) -> int:
        return len(self._factories)


def _step_name(scope: HookScope, step: Step) -> str:
    return f"{scope.protocol}.{step.role}.{step.state} {step.message} ({step.spec})"


@final
class CapabilityHook(Hook):
    def __init__(self, scope: HookScope, granted: Collection[str]) -> None:
        self._scope = scope
        self._granted = frozenset(granted)

    def applies(self, step: Step) -> bool:
        return step.capability is not None

    def before_send(self, step: Step, to: Peer, label: str) -> None:
        cap = step.capability
        if cap is not None and cap not in self._granted:
            raise CapabilityDenied(str(self._scope.me), cap, _step_name(self._scope, step))


@final
class BudgetHook(Hook):
    """Charges ``flow_cost`` against this endpoint's budget for the session."""

    def __init__(self, scope: HookScope, budget: int | None) -> None:
        self._scope = scope
        self.remaining = budget

    def applies(self, step: Step) -> bool:
        return step.flow_cost is not None and self.remaining is not None

    def before_send(self, step: Step, to: Peer, label: str) -> None:
        cost = step.flow_cost
        if cost is None or self.remaining is None:
            return
        if cost > self.remaining:
            raise BudgetExhausted(cost, self.remaining, _step_name(self._scope, step))
        self.remaining -= cost


@final
class Journal:
    """Append-only journal of facts, in memory and optionally as a JSON-lines file.

    Recording a fact is on the send and receive path of every journaled step, so it only
    appends a tuple; ``flush`` (called by each endpoint when its session ends, on every
    path) turns them into entries and writes the file in one go. A journal without a file
    keeps the tuples until ``entries`` is read: the standard registry gives every session
    one, and formatting facts nobody reads is work on every message of a session.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._entries: list[dict[str, Any]] = []
        self._pending: list[tuple[float, HookScope, Step, Peer, str, str]] = []
        self._path = Path(path) if path is not None else None
        self._lock = threading.Lock()  # one journal may be shared by roles of several sessions

    def record(self, scope: HookScope, step: Step, peer: Peer, label: str, direction: str) -> None:
        """Note that ``step`` happened; cheap, nothing is formatted or written yet."""
        self._pending.append((time.time(), scope, step, peer, label, direction))

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._flush_locked()
            self._write([entry])

    def flush(self) -> None:
        """Write what was recorded to the file; a journal without one has nothing to write."""
        if self._path is not None:
            with self._lock:
                self._flush_locked()

    def _flush_locked(self) -> None:
        # Appends only ever add at the end, so taking a prefix and deleting it loses none
        # made meanwhile by another thread.
        n = len(self._pending)
        if not n:
            return
        batch = self._pending[:n]
        del self._pending[:n]
        self._write([
            {
                "time": when,
                "protocol": s.protocol,
                "session": s.session_id,
                "epoch": s.epoch,
                "role": str(s.me),
                "state": step.state,
                "step": f"{step.message}@{step.spec}",
                "direction": direction,
                "peer": str(peer),
                "label": label,
                "fact": fact,
                "merge": step.journal_merge,
            }
            for when, s, step, peer, label, direction in batch
            for fact in step.journal_facts
        ])

    def _write(self, entries: list[dict[str, Any]]) -> None:
        self._entries.extend(entries)
        if self._path is not None and entries:
            with self._path.open("a", encoding="utf-8") as f:
                f.writelines(json.dumps(e, sort_keys=True) + "\n" for e in entries)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far, facts still buffered included."""
        with self._lock:
            self._flush_locked()
        return self._entries

    def facts(self) -> dict[str, list[dict[str, Any]]]:
        """Facts by name, merged per ``journal_merge``: ``first``/``last`` keep one entry,
        anything else (``append``, unset) keeps all in order."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in self.entries:
            lst = out.setdefault(e["fact"], [])
            merge = e.get("merge")
            if merge == "last":
                lst[:] = [e]
            elif merge == "first":
                if not lst:
                    lst.append(e)
            else:
                lst.append(e)
        return out

    @staticmethod
    def load(path: str | Path) -> list[dict[str, Any]]:
        with Path(path).open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


@final
class JournalHook(Hook):
    def __init__(self, scope: HookScope, journal: Journal) -> None:
        self._scope = scope
        self._journal = journal
        # What Journal.record appends to, appended to here: once per message of every
        # journaled step, one call less. (The journal only ever trims the list in place.)
        self._pending = journal._pending

    def applies(self, step: Step) -> bool:
        return bool(step.journal_facts)

    def after_send(self, step: Step, to: Peer, label: str) -> None:
        self._pending.append((time.time(), self._scope, step, to, label, "send"))

    def after_recv(self, step: Step, frm: Peer, label: str) -> None:
        self._pending.append((time.time(), self._scope, step, frm, label, "recv"))

    def flush(self) -> None:
        self._journal.flush()


def standard_registry(
    capabilities: Mapping[str, Collection[str]] | None = None,
    budget: int | None = None,
    journal: Journal | None = None,
    extra: Iterable[HookFactory] = (),
) -> Registry:
    """Capability, budget and journal hooks, then ``extra``.

    ``capabilities`` maps a role name (or member name such as ``Signer[2]``) to the
    capabilities it holds; a role not listed holds none, so a guarded send is denied
    unless granted (secure by default). ``budget`` None means unlimited. Without a
    ``journal`` facts go to a fresh in-memory journal reachable as ``registry.journal``.
    """
    caps = {k: frozenset(v) for k, v in (capabilities or {}).items()}
    jour = journal if journal is not None else Journal()

    def cap_factory(scope: HookScope) -> Hook:
        granted = caps.get(str(scope.me), caps.get(scope.me.role, frozenset()))
        return CapabilityHook(scope, granted)

    reg = Registry(
        [
            cap_factory,
            lambda scope: BudgetHook(scope, budget),
            lambda scope: JournalHook(scope, jour),
            *extra,
        ]
    )
    reg.journal = jour
    return reg
