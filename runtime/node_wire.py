"""What nodes say to each other inside a link frame (sans-IO): which session a frame is for.

    OPEN     0 | JSON {protocol, session, epoch, roles, params, families, args}
    SESSION  1 | session | epoch | sender role | receiver role | frame body (runtime.framing)

OPEN is JSON parsed by ``json.loads`` and checked field by field (never evaluated); every
malformed input raises ``FrameError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final

from runtime.codec import Reader, Writer
from runtime.errors import ConfigError, DecodeError, FrameError

OPEN: Final = 0
SESSION: Final = 1


def _int_map(obj: Any, what: str) -> dict[str, int]:
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in obj.items()
    ):
        raise ConfigError(f"{what} must map names to integers")
    return dict(obj)


@dataclass(frozen=True, slots=True)
class Open:
    """A request to run a session: the role map names the node that plays each role."""

    protocol: str
    session: str
    epoch: int
    roles: dict[str, str]
    params: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Any) -> Open:
        """From a parsed JSON object; ``ConfigError`` names the bad field."""
        if not isinstance(obj, dict):
            raise ConfigError("a session request is a JSON object")
        protocol, session, epoch = obj.get("protocol"), obj.get("session"), obj.get("epoch", 0)
        if not isinstance(protocol, str) or not protocol:
            raise ConfigError("'protocol' must be a protocol name")
        if not isinstance(session, str) or not session or len(session) > 200:
            raise ConfigError("'session' must be a non-empty id of at most 200 characters")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ConfigError("'epoch' must be a non-negative integer")
        roles = obj.get("roles")
        if not isinstance(roles, dict) or not roles or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in roles.items()
        ):
            raise ConfigError("'roles' must map role names to node names")
        args = obj.get("args", {})
        if not isinstance(args, dict):
            raise ConfigError("'args' must be a JSON object")
        return cls(
            protocol, session, epoch, dict(roles), _int_map(obj.get("params", {}), "'params'"),
            _int_map(obj.get("families", {}), "'families'"), dict(args),
        )

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "session": self.session, "epoch": self.epoch,
                "roles": self.roles, "params": self.params, "families": self.families,
                "args": self.args}


@dataclass(frozen=True, slots=True)
class SessionFrame:
    session: str
    epoch: int
    sender: str
    receiver: str
    body: bytes


def encode_open(o: Open) -> bytes:
    return bytes([OPEN]) + json.dumps(o.to_json(), sort_keys=True).encode("utf-8")


def encode_session(f: SessionFrame) -> bytes:
    w = Writer()
    w.uvarint(SESSION)
    w.text(f.session)
    w.uvarint(f.epoch)
    w.text(f.sender)
    w.text(f.receiver)
    return w.getvalue() + f.body


def decode(payload: bytes) -> Open | SessionFrame:
    if not payload:
        raise FrameError("empty node frame")
    if payload[0] == OPEN:
        try:
            return Open.from_json(json.loads(payload[1:]))
        except (ValueError, ConfigError) as e:
            raise FrameError(f"malformed OPEN: {e}") from None
    r = Reader(payload)
    try:
        if r.uvarint() != SESSION:
            raise FrameError(f"unknown node frame kind {payload[0]}")
        session, epoch, sender, receiver = r.text(), r.uvarint(), r.text(), r.text()
        return SessionFrame(session, epoch, sender, receiver, r.rest())
    except DecodeError as e:
        raise FrameError(f"malformed session frame: {e}") from None


__all__ = ["OPEN", "SESSION", "Open", "SessionFrame", "decode", "encode_open", "encode_session"]
