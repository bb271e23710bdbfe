"""The runtime's error hierarchy.

Violations are split by who broke the protocol: a ``LocalViolation`` is our own code's fault
(wrong use of a state, a guard that does not hold), a ``RemoteViolation`` is a peer's fault
(unexpected label, malformed payload). After either, the session refuses further use.
"""

from __future__ import annotations


class MinuetError(Exception):
    """Base of every error the runtime raises on purpose."""


class LocalViolation(MinuetError):
    """Our side broke the protocol."""


class LinearityError(LocalViolation):
    """A state object was used a second time."""

    def __init__(self, state: str, method: str, first_use: str) -> None:
        self.state = state
        self.method = method
        self.first_use = first_use
        super().__init__(
            f"state {state} was already used (first use at {first_use}); "
            f"calling {method}() on it again is a linearity violation: "
            "keep using the state object the previous call returned"
        )


class GuardFailed(LocalViolation):
    """A choice branch was selected while its `when` guard does not hold."""

    def __init__(self, label: str, guard: str, spec: str) -> None:
        self.label = label
        self.guard = guard
        self.spec = spec
        super().__init__(f"guard of branch {label!r} does not hold: when {guard!r} ({spec})")


class CapabilityDenied(LocalViolation):
    """The role lacks the capability a send is guarded by; nothing was sent."""

    def __init__(self, role: str, capability: str, step: str) -> None:
        self.role = role
        self.capability = capability
        self.step = step
        super().__init__(f"role {role} lacks capability {capability!r} required by {step}")


class BudgetExhausted(LocalViolation):
    """The session's flow budget cannot pay for a send; nothing was sent."""

    def __init__(self, cost: int, remaining: int, step: str) -> None:
        self.cost = cost
        self.remaining = remaining
        self.step = step
        super().__init__(f"flow budget exhausted at {step}: cost {cost}, remaining {remaining}")


class SessionClosed(LocalViolation):
    """The session was closed or already failed; no further use is allowed."""


class RemoteViolation(MinuetError):
    """A peer broke the protocol: unexpected label or malformed payload."""

    def __init__(self, peer: str, state: str, expected: str, got: str) -> None:
        self.peer = peer
        self.state = state
        self.expected = expected
        self.got = got
        super().__init__(
            f"protocol violation by {peer} in state {state}: expected {expected}, got {got}"
        )


class Flooding(RemoteViolation):
    """A peer queued more than the inbox limit with us, ahead of what we received. Every
    later use of the session raises this error itself (not ``SessionClosed``): the flooder
    is named wherever our role notices."""


class DecodeError(MinuetError):
    """Bytes could not be decoded; wrapped into a RemoteViolation by the receiving session."""


class PeerGone(MinuetError):
    """A peer crashed, disconnected or missed the receive deadline."""

    def __init__(self, peer: str, state: str, reason: str) -> None:
        self.peer = peer
        self.state = state
        self.reason = reason
        super().__init__(f"peer {peer} gone while in state {state}: {reason}")


# --- Added by the runtime (issue 4); the names above are the generator's contract. ---


class NotAMember(LocalViolation):
    """A send or receive named a peer that is not a member of this session (or ourselves)."""

    def __init__(self, peer: str, role: str, members: str) -> None:
        self.peer = peer
        self.role = role
        super().__init__(f"{role} cannot talk to {peer}: not another member of the session ({members})")


class FrameError(DecodeError):
    """A frame on the wire is malformed (bad length prefix, kind or header)."""


class LinkError(MinuetError):
    """A secure link could not be opened or a frame failed authentication."""


class LinkVersionError(LinkError):
    """The peer speaks another link protocol version (``peer`` as it named itself, or the
    address dialled)."""

    def __init__(self, peer: str, theirs: int, ours: int) -> None:
        self.peer, self.theirs, self.ours = peer, theirs, ours
        super().__init__(
            f"{peer} speaks link protocol version {theirs}, this node speaks {ours}: "
            "both ends need the same Minuet link version"
        )


class LinkAuthError(LinkError):
    """The peer could not prove it holds the identity the config lists for ``peer`` (wrong
    key, or another protocol, session, epoch or member pairing in its handshake)."""

    def __init__(self, peer: str, detail: str = "") -> None:
        self.peer = peer
        super().__init__(
            f"{peer} failed to prove its identity (wrong key, or a handshake for another "
            f"protocol, session, epoch or member){': ' + detail if detail else ''}"
        )


class ConfigError(MinuetError):
    """A session, network config or key file is invalid."""


class InjectedCrash(MinuetError):
    """Raised in a role by the fault injector's crash-after-n: the role dies without goodbye."""
