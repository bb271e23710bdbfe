"""Session state without I/O: who is in a session, per-peer channel state, and the checks
every received frame goes through (sequence, label, integrity, payload decoding).

Transports (``runtime.memory``, ``runtime.tcp``) move frames; this module decides what a
frame means. It imports no trio, so it is tested and fuzzed without an event loop.
"""

from __future__ import annotations

import secrets
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, final

from runtime.contract import Peer, ProtocolInfo, Step
from runtime.errors import ConfigError, MinuetError, PeerGone, RemoteViolation
from runtime.framing import ABORT, CLOSE, DATA, GONE, INTERRUPTED, TIMEOUT, VIOLATION, Item

DEFAULT_TIMEOUT: Final = 30.0


def resolve_families(
    protocol: ProtocolInfo, params: Mapping[str, int], families: Mapping[str, int]
) -> dict[str, int]:
    """Family sizes for this session: literal sizes, parameters, or ``families`` for '*'."""
    sizes: dict[str, int] = {}
    for role in protocol.roles:
        if not role.family:
            continue
        if role.name in families:
            n = families[role.name]
            if isinstance(role.size, int) and n != role.size:
                raise ConfigError(f"family {role.name} has fixed size {role.size}, not {n}")
        elif isinstance(role.size, int):
            n = role.size
        elif isinstance(role.size, str) and role.size != "*":
            if role.size not in params:
                raise ConfigError(f"family {role.name} is sized by parameter {role.size!r}, which is not set")
            n = params[role.size]
        else:
            raise ConfigError(f"family {role.name}[*] needs its size: pass families={{{role.name!r}: n}}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ConfigError(f"family {role.name} size must be a non-negative int, got {n!r}")
        sizes[role.name] = n
    unknown = set(families) - set(sizes)
    if unknown:
        raise ConfigError(f"families {sorted(unknown)} are not role families of {protocol.name}")
    return sizes


def members(protocol: ProtocolInfo, sizes: Mapping[str, int]) -> tuple[Peer, ...]:
    """Every participant, in declaration order (family members by index)."""
    out: list[Peer] = []
    for role in protocol.roles:
        if role.family:
            out.extend(Peer(role.name, i) for i in range(sizes[role.name]))
        else:
            out.append(Peer(role.name))
    return tuple(out)


def parse_peer(text: str) -> Peer:
    """``"Buyer1"`` -> Peer("Buyer1"), ``"Signer[2]"`` -> Peer("Signer", 2)."""
    if text.endswith("]") and "[" in text:
        name, _, idx = text[:-1].partition("[")
        # str.isdigit() also accepts "²" and other digits int() rejects: ASCII only.
        if not (idx.isascii() and idx.isdigit()):
            raise ConfigError(f"bad member name {text!r}: index must be a number")
        return Peer(name, int(idx))
    return Peer(text)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Everything every member of one session agrees on."""

    protocol: ProtocolInfo
    params: Mapping[str, int] = field(default_factory=dict)
    families: Mapping[str, int] = field(default_factory=dict)
    session_id: str = field(default_factory=lambda: secrets.token_hex(8))
    epoch: int = 0
    timeout: float = DEFAULT_TIMEOUT
    members: tuple[Peer, ...] = ()

    @classmethod
    def build(
        cls,
        protocol: ProtocolInfo,
        params: Mapping[str, int] | None = None,
        families: Mapping[str, int] | None = None,
        session_id: str | None = None,
        epoch: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> SessionInfo:
        params = dict(params or {})
        missing = [p for p in protocol.params if p not in params]
        if missing:
            raise ConfigError(f"protocol {protocol.name} needs parameters {missing}")
        if timeout <= 0:
            raise ConfigError("timeout must be positive")
        sizes = resolve_families(protocol, params, families or {})
        return cls(
            protocol, params, sizes, session_id or secrets.token_hex(8), epoch, timeout,
            members(protocol, sizes),
        )


@final
class PeerChannel:
    """Our view of the ordered channel from one peer: next expected sequence number."""

    __slots__ = ("name", "peer", "recv_seq")

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.name = str(peer)
        self.recv_seq = 0


def _expected(decoders: Mapping[str, object]) -> str:
    labels = sorted(decoders)
    return labels[0] if len(labels) == 1 else "one of " + ", ".join(labels)


def accept(
    ch: PeerChannel,
    item: Item,
    decoders: Mapping[str, Callable[[bytes], object]],
    step: Step,
    passthrough: bool,
    timeout: float,
) -> tuple[str, object]:
    """Interpret one inbox item for a receive at ``step``; raise the documented error."""
    kind, seq, label, data, crc = item
    if kind == DATA:
        if seq != ch.recv_seq:
            what = "a duplicate" if seq < ch.recv_seq else "a frame after a gap (frames lost)"
            raise RemoteViolation(ch.name, step.state, f"frame {ch.recv_seq}", f"{what}: frame {seq}")
        ch.recv_seq = seq + 1
        decode = decoders.get(label)
        if decode is None:
            raise RemoteViolation(ch.name, step.state, _expected(decoders), repr(label))
        if passthrough:
            return label, data
        if not isinstance(data, bytes):
            raise RemoteViolation(ch.name, step.state, f"{label} payload bytes", type(data).__name__)
        if crc >= 0 and zlib.crc32(data) != crc:
            raise RemoteViolation(ch.name, step.state, f"intact {label} frame", "a corrupted frame (checksum mismatch)")
        try:
            return label, decode(data)
        except Exception as e:  # a decoder must never crash the runtime: hostile bytes
            raise RemoteViolation(
                ch.name, step.state, f"a well-formed {label}", f"malformed payload ({type(e).__name__}: {e})"
            ) from None
    reason: str
    if kind == CLOSE:
        reason = f"it finished the session while we expected {_expected(decoders)}"
    elif kind == ABORT:
        reason = f"its session failed: {label}"
    elif kind == GONE:
        reason = label
    elif kind == TIMEOUT:
        reason = f"no message within the {timeout:g}s deadline (expected {_expected(decoders)} at {step.spec})"
    elif kind == VIOLATION:
        raise RemoteViolation(ch.name, step.state, "an authentic frame", label)
    elif kind == INTERRUPTED:
        raise MinuetError(label)  # replaced by the endpoint with its own failure
    else:
        raise RemoteViolation(ch.name, step.state, "a known frame kind", f"kind {kind}")
    raise PeerGone(ch.name, step.state, reason)
