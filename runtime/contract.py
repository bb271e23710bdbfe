"""The surface generated role classes call: peers, steps and the ``Endpoint`` protocol.

Generated code reaches these through ``runtime.genlib``, its one contract module; role
programs import them from here. Transports (memory, TCP) implement ``Endpoint``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol, TypeVar

M = TypeVar("M")


@dataclass(frozen=True, slots=True)
class Peer:
    """One participant of a session: a role, or one member of a role family."""

    role: str
    index: int | None = None

    def __str__(self) -> str:
        return self.role if self.index is None else f"{self.role}[{self.index}]"


@dataclass(frozen=True, slots=True)
class Step:
    """Static facts about one send or receive, emitted by the generator as a constant.

    The runtime enforces the annotations (capability, flow cost, journal facts) and the
    receive deadline from here, so generated code never carries policy logic itself.
    """

    protocol: str
    role: str
    state: str
    message: str
    spec: str  # "protocols/x.yaml:12:5": where the interaction is written
    capability: str | None = None
    flow_cost: int | None = None
    journal_facts: tuple[str, ...] = ()
    journal_merge: str | None = None
    timeout: float | None = None  # seconds; None means the session default


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """A role as declared in a spec; ``size`` is set for families (int, parameter name or '*')."""

    name: str
    family: bool = False
    size: int | str | None = None


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    """What a transport must know to build a session for a generated protocol."""

    name: str
    roles: tuple[RoleInfo, ...]
    params: tuple[str, ...] = ()
    spec: str = ""


class Endpoint(Protocol):
    """One participant's live session, as seen by its generated state classes."""

    @property
    def me(self) -> Peer: ...

    def param(self, name: str) -> int:
        """The run-time value of a symbolic parameter (``t``, ``N``)."""
        ...

    def family_size(self, family: str) -> int:
        """How many members a role family has in this session."""
        ...

    @property
    def chosen(self) -> dict[str, int]:
        """Roles chosen at run time: role name -> the index of the member that plays it,
        set once the members agreed on it (``genlib.agree``)."""
        ...

    @property
    def crashed(self) -> AbstractSet[str]:
        """The peers (``str(peer)``) a failure branch took for crashed: a family step
        skips them from then on, so a re-election runs among the survivors."""
        ...

    @property
    def chosen_sets(self) -> dict[str, tuple[int, ...]]:
        """Sets of members chosen at run time: set name -> the members' indices, ascending,
        set once the members agreed on it (``genlib.agree_set``)."""
        ...

    async def send(
        self, to: Peer, label: str, payload: M, encode: Callable[[M], bytes], step: Step
    ) -> None:
        """Send one message; annotations in ``step`` are enforced before anything leaves."""
        ...

    async def recv(
        self,
        frm: Peer,
        decoders: Mapping[str, Callable[[bytes], object]],
        step: Step,
        *,
        failable: bool = False,
    ) -> tuple[str, object]:
        """Receive the next message from ``frm``; its label must be one of ``decoders``.

        Raises ``RemoteViolation`` for an unexpected label or undecodable payload and
        ``PeerGone`` when the peer disconnects or the deadline passes. With ``failable``
        (a receive with a failure branch) ``PeerGone`` leaves the session usable: ``frm``
        counts as crashed from then on and whatever it still sends is ignored.
        """
        ...

    def local_violation(self, error: Exception) -> None:
        """Mark the session failed because our own side broke the protocol."""
        ...

    async def close(self) -> None:
        """Finish the session cleanly (called when a role reaches its End state)."""
        ...

    async def bump_epoch(self, step: Step) -> int:
        """Move this member to the session's next epoch (an epoch bump of the spec) and
        return it. Every later frame it sends carries the new epoch; a frame received
        afterwards of another epoch is a ``RemoteViolation`` naming its sender."""
        ...
