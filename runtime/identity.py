"""Member identities: an Ed25519 key, from which the X25519 link key is derived.

A member's key file holds a 32-byte Ed25519 seed; network configs list Ed25519 public keys.
The same identity signs (``sign``/``verify``: e.g. signed echoes, a libp2p peer ID) and keys
the Noise links, through the standard Ed25519 -> X25519 conversion (RFC 7748 section 4.1's
birational map, as libsodium's ``crypto_sign_ed25519_{sk,pk}_to_curve25519``):

    link private key = SHA-512(seed)[0:32], clamped      (the Ed25519 secret scalar's bytes)
    link public key  = u = (1 + y) / (1 - y) mod 2^255-19 (y: the Ed25519 public point)

so a peer's link key follows from its Ed25519 public key alone, and both derivations give the
same X25519 key pair (tested). The public conversion is libsodium's (through PyNaCl), which
also refuses encodings that are not valid, non-small-order points.

Old key files (``minuet-x25519-v1``: a bare X25519 key, no seed) cannot be converted; reading
one raises a ``ConfigError`` saying how to re-key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from runtime.crypto.secret import Secret
from runtime.errors import ConfigError

KEY_FILE_KIND: Final = "minuet-ed25519-v1"
OLD_KEY_FILE_KINDS: Final = ("minuet-x25519-v1",)
MIGRATION: Final = (
    "member identities are Ed25519 keys now and an X25519 key cannot be converted: "
    "create a new key file with `minuet keys gen FILE --force`, then refill the network "
    "config's public keys with `minuet keys config NET.json`"
)
_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw


def link_private_from_seed(seed: bytes) -> bytes:
    """The X25519 private key of an Ed25519 seed: the clamped low half of SHA-512(seed)."""
    if len(seed) != 32:
        raise ValueError("an Ed25519 seed is 32 bytes")
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    return bytes(h)


def link_public_from_ed25519(public: bytes) -> bytes:
    """The X25519 public key of an Ed25519 public key; ``ValueError`` if it is not a valid
    (on-curve, not small-order) point."""
    if len(public) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(public)}")
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public))
    except nacl.exceptions.CryptoError:
        raise ValueError("not a valid Ed25519 public key") from None


@dataclass(frozen=True, slots=True)
class Identity(Secret):
    """A member's Ed25519 identity and the X25519 link key derived from it (never copied or
    pickled: ``Secret``)."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")

    def __repr__(self) -> str:  # the seed is secret
        return f"Identity(public={self.public_b64})"

    @classmethod
    def generate(cls) -> Identity:
        return cls(os.urandom(32))

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def public(self) -> bytes:
        """The Ed25519 public key (what configs list)."""
        return self.signing_key.public_key().public_bytes(_RAW, _RAW_PUB)

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public).decode("ascii")

    @property
    def link_key(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(link_private_from_seed(self.seed))

    @property
    def link_public(self) -> bytes:
        return self.link_key.public_key().public_bytes(_RAW, _RAW_PUB)

    def sign(self, message: bytes) -> bytes:
        return self.signing_key.sign(message)

    def to_json(self) -> str:
        return json.dumps(
            {
                "kind": KEY_FILE_KIND,
                "seed": base64.b64encode(self.seed).decode("ascii"),
                "public": self.public_b64,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, where: str = "key file") -> Identity:
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise ConfigError(f"{where}: invalid key file: {e}") from None
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if kind in OLD_KEY_FILE_KINDS:
            raise ConfigError(f"{where}: an old {kind} key file; {MIGRATION}")
        try:
            if kind != KEY_FILE_KIND:
                raise ValueError(f"not a {KEY_FILE_KIND} key file")
            key = cls(base64.b64decode(obj["seed"], validate=True))
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{where}: invalid key file: {e}") from None
        if "public" in obj and obj["public"] != key.public_b64:
            raise ConfigError(f"{where}: public key does not match the seed")
        return key

    @classmethod
    def from_pem(cls, data: bytes, where: str = "PEM key") -> Identity:
        """Import an unencrypted PKCS#8 or OpenSSH Ed25519 private key
        (``openssl genpkey -algorithm ed25519``, ``ssh-keygen -t ed25519 -N ''``)."""
        loaders = (serialization.load_pem_private_key, serialization.load_ssh_private_key)
        for load in loaders:
            try:
                key = load(data, None)
            except (ValueError, TypeError, UnsupportedAlgorithm):
                continue
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"{where}: not an Ed25519 key ({type(key).__name__})")
            return cls(key.private_bytes(_RAW, serialization.PrivateFormat.Raw, serialization.NoEncryption()))
        raise ConfigError(f"{where}: not an unencrypted PKCS#8 or OpenSSH private key")


def verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public``'s Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def write_key_file(path: str | Path, key: Identity | None = None, *, overwrite: bool = False) -> Identity:
    """Write a new (or the given) identity to ``path`` with mode 0600."""
    key = key or Identity.generate()
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(key.to_json() + "\n")
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file
    return key


def read_key_file(path: str | Path) -> Identity:
    p = Path(path)
    try:
        mode = p.stat().st_mode & 0o077
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read key file: {e.strerror}") from None
    if mode and os.name == "posix":
        raise ConfigError(f"{path}: key file is readable by others (mode must be 0600)")
    return Identity.from_json(text, str(path))


def decode_public(text: str, where: str) -> bytes:
    """A base64 Ed25519 public key from a config, checked to be a usable identity."""
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ConfigError(f"{where}: public key is not base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{where}: public key must be 32 bytes, got {len(raw)}")
    try:
        link_public_from_ed25519(raw)
    except ValueError as e:
        raise ConfigError(f"{where}: {e}") from None
    return raw


__all__ = [
    "KEY_FILE_KIND",
    "Identity",
    "decode_public",
    "link_private_from_seed",
    "link_public_from_ed25519",
    "read_key_file",
    "verify",
    "write_key_file",
]
