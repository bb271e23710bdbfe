"""libp2p peer IDs of Minuet member identities (pure; no libp2p import).

A libp2p peer ID of an Ed25519 key is the *identity* multihash of the key's protobuf
encoding (libp2p peer-ids spec): ``0x00 0x24 | 08 01 12 20 | public key`` (multihash code
identity, length 36; ``PublicKey{Type: Ed25519, Data: 32 bytes}``), written in base58btc
(``12D3KooW...``). The key is inside the ID, so the mapping goes both ways: a member's
peer ID follows from the Ed25519 public key its network config lists, and the public key
from a peer ID (``runtime.p2p`` checks every libp2p peer against its member's config entry).
"""

from __future__ import annotations

from typing import Final

_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # base58btc
_INDEX: Final = {c: i for i, c in enumerate(_ALPHABET)}
# identity multihash (code 0x00, 36 bytes) of PublicKey{Type: Ed25519 (1), Data: 32 bytes}
_PREFIX: Final = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_MAX_ID_CHARS: Final = 128  # far above the 52 characters of an Ed25519 peer ID


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_ALPHABET[r])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def _b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        i = _INDEX.get(c)
        if i is None:
            raise ValueError(f"{c!r} is not a base58 character")
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\0" * zeros + body


def peer_id(public: bytes) -> str:
    """The libp2p peer ID (base58btc) of an Ed25519 public key."""
    if len(public) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(public)}")
    return _b58encode(_PREFIX + public)


def public_from_peer_id(text: str) -> bytes:
    """The Ed25519 public key inside a peer ID; ``ValueError`` for anything else (an RSA or
    secp256k1 peer's hashed ID, a CID, a typo)."""
    if not text or len(text) > _MAX_ID_CHARS:
        raise ValueError("not a libp2p peer ID")
    raw = _b58decode(text)
    if len(raw) != len(_PREFIX) + 32 or not raw.startswith(_PREFIX):
        raise ValueError(f"{text[:60]!r} is not the peer ID of an Ed25519 key")
    return raw[len(_PREFIX) :]


__all__ = ["peer_id", "public_from_peer_id"]
