"""Network config for TCP sessions: JSON or TOML (stdlib only), one file shared by all
members; each process picks its own entry with ``--role``.

    {
      "protocol": "TwoBuyer",              # optional; checked against the module's PROTOCOL
      "session": "order-17", "epoch": 0,   # every member must agree; bound into every frame
      "timeout": 30, "connect_timeout": 10, "linger": 5, "max_frame": 1048576,
      "handshake_timeout": 5, "max_handshakes": 32, "inbox_limit": 4194304,
      "params": {"t": 2}, "families": {"Signer": 3}, "budget": 1000, "journal": "j.jsonl",
      "members": {
        "Buyer1":    {"host": "127.0.0.1", "port": 7001, "ed25519": "<base64 public key>",
                      "key": "keys/buyer1.key", "capabilities": ["quote"]},
        "Signer[0]": {...}
      }
    }

Relative paths are relative to the config file. ``key`` is needed only by the member that
runs; ``ed25519`` is every member's Ed25519 identity public key (``minuet keys config`` fills it
in); its X25519 link key is derived from it (``runtime.identity``). A member entry with the old
``public`` field (an X25519 key of link version 1) gets an error saying how to re-key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from runtime.errors import ConfigError
from runtime.framing import DEFAULT_MAX_FRAME
from runtime.identity import MIGRATION, decode_public, link_public_from_ed25519
from runtime.inbox import DEFAULT_INBOX_LIMIT

DEFAULT_HANDSHAKE_TIMEOUT: Final = 5.0
DEFAULT_MAX_HANDSHAKES: Final = 32


@dataclass(frozen=True, slots=True)
class MemberConfig:
    name: str
    host: str
    port: int
    public: bytes | None  # Ed25519 identity
    key: Path | None
    capabilities: tuple[str, ...] = ()

    @property
    def link_public(self) -> bytes | None:
        """The X25519 link public key derived from the identity."""
        return link_public_from_ed25519(self.public) if self.public is not None else None


@dataclass(frozen=True, slots=True)
class NetConfig:
    session: str
    members: dict[str, MemberConfig]
    protocol: str | None = None
    epoch: int = 0
    timeout: float = 30.0
    connect_timeout: float = 10.0
    linger: float = 5.0
    max_frame: int = DEFAULT_MAX_FRAME
    # An unauthenticated peer holds a half-open handshake at most this long, and at most
    # this many at once (a slowloris or connection flood cannot pin the listener).
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT
    max_handshakes: int = DEFAULT_MAX_HANDSHAKES
    # Bytes a peer may have queued with us, not yet received (see runtime.inbox).
    inbox_limit: int = DEFAULT_INBOX_LIMIT
    params: dict[str, int] = field(default_factory=dict)
    families: dict[str, int] = field(default_factory=dict)
    budget: int | None = None
    journal: Path | None = None
    path: Path | None = None


def _get(obj: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str, default: Any = None) -> Any:
    if key not in obj:
        return default
    v = obj[key]
    if not isinstance(v, typ) or (isinstance(v, bool) and typ in (int, (int, float))):
        raise ConfigError(f"{where}: {key!r} has the wrong type ({type(v).__name__})")
    return v


def _int_map(obj: Any, where: str) -> dict[str, int]:
    if obj is None:
        return {}
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in obj.items()
    ):
        raise ConfigError(f"{where}: must map names to ints")
    return dict(obj)


def parse_config(obj: Any, base: Path | None = None, where: str = "config") -> NetConfig:
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: top level must be a table/object")
    base = base or Path(".")
    raw_members = obj.get("members")
    if not isinstance(raw_members, dict) or not raw_members:
        raise ConfigError(f"{where}: 'members' must map member names to host/port entries")
    members: dict[str, MemberConfig] = {}
    for name, m in raw_members.items():
        w = f"{where}: member {name}"
        if not isinstance(m, dict):
            raise ConfigError(f"{w}: must be a table/object")
        host = _get(m, "host", str, w, "127.0.0.1")
        port = _get(m, "port", int, w)
        if port is None or not 0 < port < 65536:
            raise ConfigError(f"{w}: needs a port between 1 and 65535")
        if "public" in m:
            raise ConfigError(f"{w}: 'public' is an X25519 link key of link version 1; {MIGRATION}")
        pub = _get(m, "ed25519", str, w)
        key = _get(m, "key", str, w)
        caps = _get(m, "capabilities", list, w, [])
        if not all(isinstance(c, str) for c in caps):
            raise ConfigError(f"{w}: capabilities must be strings")
        members[name] = MemberConfig(
            name, host, port, decode_public(pub, w) if pub is not None else None,
            base / key if key is not None else None, tuple(caps),
        )
    session = _get(obj, "session", str, where)
    if not session:
        raise ConfigError(f"{where}: needs a non-empty 'session' id")
    journal = _get(obj, "journal", str, where)
    max_frame = _get(obj, "max_frame", int, where, DEFAULT_MAX_FRAME)
    handshake_timeout = float(_get(obj, "handshake_timeout", (int, float), where, DEFAULT_HANDSHAKE_TIMEOUT))
    max_handshakes = _get(obj, "max_handshakes", int, where, DEFAULT_MAX_HANDSHAKES)
    inbox_limit = _get(obj, "inbox_limit", int, where, DEFAULT_INBOX_LIMIT)
    if not handshake_timeout > 0:
        raise ConfigError(f"{where}: 'handshake_timeout' must be positive")
    if max_handshakes < 1:
        raise ConfigError(f"{where}: 'max_handshakes' must be at least 1")
    if inbox_limit < max_frame:
        raise ConfigError(f"{where}: 'inbox_limit' ({inbox_limit}) must hold one frame of 'max_frame' ({max_frame}) bytes")
    return NetConfig(
        session=session,
        members=members,
        protocol=_get(obj, "protocol", str, where),
        epoch=_get(obj, "epoch", int, where, 0),
        timeout=float(_get(obj, "timeout", (int, float), where, 30.0)),
        connect_timeout=float(_get(obj, "connect_timeout", (int, float), where, 10.0)),
        linger=float(_get(obj, "linger", (int, float), where, 5.0)),
        max_frame=max_frame,
        handshake_timeout=handshake_timeout,
        max_handshakes=max_handshakes,
        inbox_limit=inbox_limit,
        params=_int_map(obj.get("params"), f"{where}: params"),
        families=_int_map(obj.get("families"), f"{where}: families"),
        budget=_get(obj, "budget", int, where),
        journal=base / journal if journal is not None else None,
    )


def load_config(path: str | Path) -> NetConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read config: {e.strerror}") from None
    try:
        obj = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {e}") from None
    cfg = parse_config(obj, p.parent, str(p))
    return NetConfig(**{**{f: getattr(cfg, f) for f in cfg.__dataclass_fields__}, "path": p})
