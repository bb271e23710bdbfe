"""The dispute round shared by the DKG and resharing ceremonies: the generated Justify roles
(protocols/threshold/justify.yaml).

After a ceremony's Confirms, every member knows the same complaints, as pairs
(complainer, dealer). In the Justify session each dealer reveals, in the clear, the shares it
dealt to its complainers; every member then judges every complaint with the ceremony's own
check of a revealed share (against the dealer's VSS commitment). Members that saw the same
revelations reach the same judgement, whatever they sent themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

from generated.threshold import justify as gj
from runtime.contract import Endpoint
from runtime.crypto.encoding import scalar_from_bytes, scalar_to_bytes
from runtime.crypto.errors import InvalidScalar
from runtime.memory import RoleFn

Complaint = tuple[int, int]  # (complainer, dealer), member indices
# What a lying member does to the share f(j) it deals or reveals to member j (tests).
ShareFilter = Callable[[int, int], int]


@dataclass(frozen=True, slots=True)
class Misbehaviour:
    """How a test makes one member of a ceremony lie: the shares it seals (``deal``) or
    reveals in the dispute (``reveal``) to member j, the members it accuses falsely."""

    deal: ShareFilter | None = None
    reveal: ShareFilter | None = None
    complain_about: frozenset[int] = frozenset()

    def dealt(self, j: int, share: int) -> int:
        """What this member seals to member j in place of ``share``."""
        return self.deal(j, share) if self.deal else share

    def revealed(self, dealt: Mapping[int, int]) -> dict[int, int]:
        """What this member reveals in place of the shares it dealt."""
        return {j: self.reveal(j, v) if self.reveal else v for j, v in dealt.items()}


HONEST: Final = Misbehaviour()
# Does ``share`` verify as what ``dealer`` dealt to ``complainer``?
ShareCheck = Callable[[int, int, int], bool]


@dataclass(frozen=True, slots=True)
class Judgement:
    culprits: frozenset[int]  # dealers that revealed no valid share for some complainer
    cleared: Mapping[Complaint, int]  # the valid revealed share of every other complaint


async def exchange(
    ep: Endpoint, complaints: Collection[Complaint], dealt: Mapping[int, int]
) -> dict[Complaint, int]:
    """Reveal ``dealt[j]`` for every complainer j against us that we dealt a share to;
    collect everyone's revelations (ours included). An unreduced scalar counts as not
    revealed."""
    me = ep.me.index
    assert me is not None
    mine = gj.Justification(
        revealed=[
            gj.Revealed(member=j, share=gj.Bytes32(scalar_to_bytes(dealt[j])))
            for j, dealer in sorted(complaints)
            if dealer == me and j in dealt
        ]
    )
    s1 = await gj.start_member(ep).send_justification(mine)
    received, _end = await s1.recv_justification()
    revealed: dict[Complaint, int] = {}
    for dealer, msg in {**received, me: mine}.items():
        for r in msg.revealed:
            try:
                revealed[(r.member, dealer)] = scalar_from_bytes(r.share)
            except InvalidScalar:
                pass
    return revealed


def judge(
    complaints: Collection[Complaint], revealed: Mapping[Complaint, int], check: ShareCheck
) -> Judgement:
    culprits: set[int] = set()
    cleared: dict[Complaint, int] = {}
    for complainer, dealer in complaints:
        share = revealed.get((complainer, dealer))
        if share is not None and check(complainer, dealer, share):
            cleared[(complainer, dealer)] = share
        else:
            culprits.add(dealer)
    return Judgement(frozenset(culprits), cleared)


class DisputeState(Protocol):
    """What a ceremony's member carries into Justify: at least its member index."""

    @property
    def me(self) -> int: ...


S = TypeVar("S", bound=DisputeState)


def programs(states: Iterable[S], justify: Callable[[Endpoint, S], Awaitable[object]]) -> dict[str, RoleFn]:
    """Justify role programs keyed ``Member[i]``: member i of the Justify session is member
    i of the ceremony's first session."""

    def program(state: S) -> RoleFn:
        async def run(ep: Endpoint) -> object:
            return await justify(ep, state)

        return run

    return {f"Member[{state.me}]": program(state) for state in states}
