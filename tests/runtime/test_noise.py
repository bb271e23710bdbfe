"""runtime.noise against the published Noise_KK_25519_ChaChaPoly_SHA256 test vectors
(cacophony and snow, ``vectors/noise_kk.json`` with their provenance) and, for random keys,
prologues and payloads, against the ``noiseprotocol`` package (a development-only oracle)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from noise.connection import Keypair, NoiseConnection

from runtime.noise import (
    MAX_MESSAGE,
    CipherState,
    KKHandshake,
    NoiseError,
    public_bytes,
)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "noise_kk.json").read_text())


def _priv(hexkey: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(hexkey))


def _sides(v: dict[str, Any]) -> tuple[KKHandshake, KKHandshake]:
    i = KKHandshake(
        True, bytes.fromhex(v["init_prologue"]), _priv(v["init_static"]),
        bytes.fromhex(v["init_remote_static"]), _priv(v["init_ephemeral"]),
    )
    r = KKHandshake(
        False, bytes.fromhex(v["resp_prologue"]), _priv(v["resp_static"]),
        bytes.fromhex(v["resp_remote_static"]), _priv(v["resp_ephemeral"]),
    )
    return i, r


def test_vector_file_has_provenance() -> None:
    assert {s["name"] for s in VECTORS["sources"]} == {"cacophony", "snow"}
    assert all(s["url"].startswith("https://github.com/") and s["licence"] for s in VECTORS["sources"])
    assert len(VECTORS["vectors"]) == sum(s["count"] for s in VECTORS["sources"]) == 2


@pytest.mark.parametrize("v", VECTORS["vectors"], ids=lambda v: v["source"])
def test_published_vectors(v: dict[str, Any]) -> None:
    assert v["protocol_name"] == "Noise_KK_25519_ChaChaPoly_SHA256"
    i, r = _sides(v)
    msgs = v["messages"]
    # Handshake: message 0 initiator -> responder, message 1 back.
    for n, (w, rd) in enumerate(((i, r), (r, i))):
        payload, ct = bytes.fromhex(msgs[n]["payload"]), bytes.fromhex(msgs[n]["ciphertext"])
        assert w.write_message(payload) == ct
        assert rd.read_message(ct) == payload
    assert i.finished and r.finished
    if "handshake_hash" in v:
        assert i.handshake_hash == r.handshake_hash == bytes.fromhex(v["handshake_hash"])
    (i_send, i_recv), (r_send, r_recv) = i.split(), r.split()
    for n, m in enumerate(msgs[2:]):
        payload, ct = bytes.fromhex(m["payload"]), bytes.fromhex(m["ciphertext"])
        send, recv = (i_send, r_recv) if n % 2 == 0 else (r_send, i_recv)
        assert send.encrypt_with_ad(b"", payload) == ct
        assert recv.decrypt_with_ad(b"", ct) == payload
    assert len(msgs) >= 4  # transport messages in both directions were checked


def _oracle(initiator: bool, prologue: bytes, s: X25519PrivateKey, rs: bytes) -> NoiseConnection:
    c = NoiseConnection.from_name(b"Noise_KK_25519_ChaChaPoly_SHA256")
    c.set_prologue(prologue)
    (c.set_as_initiator if initiator else c.set_as_responder)()
    c.set_keypair_from_private_bytes(Keypair.STATIC, s.private_bytes_raw())
    c.set_keypair_from_public_bytes(Keypair.REMOTE_STATIC, rs)
    c.start_handshake()
    return c


@pytest.mark.parametrize("we_initiate", [True, False])
def test_interoperates_with_noiseprotocol(we_initiate: bool) -> None:
    for _ in range(5):
        si, sr = X25519PrivateKey.generate(), X25519PrivateKey.generate()
        prologue = os.urandom(int.from_bytes(os.urandom(1), "big"))
        if we_initiate:
            ours = KKHandshake(True, prologue, si, public_bytes(sr))
            theirs = _oracle(False, prologue, sr, public_bytes(si))
        else:
            ours = KKHandshake(False, prologue, sr, public_bytes(si))
            theirs = _oracle(True, prologue, si, public_bytes(sr))
        p1, p2 = os.urandom(7), os.urandom(300)
        if we_initiate:
            assert theirs.read_message(ours.write_message(p1)) == p1
            assert ours.read_message(bytes(theirs.write_message(p2))) == p2
        else:
            assert ours.read_message(bytes(theirs.write_message(p1))) == p1
            assert theirs.read_message(ours.write_message(p2)) == p2
        assert ours.handshake_hash == theirs.get_handshake_hash()
        send, recv = ours.split()
        for size in (0, 1, 1000, MAX_MESSAGE - 16):
            data = os.urandom(size)
            assert theirs.decrypt(send.encrypt_with_ad(b"", data)) == data
            assert recv.decrypt_with_ad(b"", bytes(theirs.encrypt(data))) == data


def _pair(prologue_i: bytes = b"p", prologue_r: bytes = b"p") -> tuple[KKHandshake, KKHandshake, X25519PrivateKey]:
    si, sr = X25519PrivateKey.generate(), X25519PrivateKey.generate()
    return (
        KKHandshake(True, prologue_i, si, public_bytes(sr)),
        KKHandshake(False, prologue_r, sr, public_bytes(si)),
        si,
    )


def test_prologue_mismatch_fails_the_first_message() -> None:
    i, r, _ = _pair(b"session 1", b"session 2")
    with pytest.raises(NoiseError, match="authentication"):
        r.read_message(i.write_message())


def test_wrong_static_key_fails() -> None:
    _, r, _ = _pair()
    impostor = KKHandshake(True, b"p", X25519PrivateKey.generate(), public_bytes(X25519PrivateKey.generate()))
    with pytest.raises(NoiseError, match="authentication"):
        r.read_message(impostor.write_message())
    # a responder without the expected static key cannot read the real initiator either
    i, _, si = _pair()
    fake_r = KKHandshake(False, b"p", X25519PrivateKey.generate(), public_bytes(si))
    with pytest.raises(NoiseError, match="authentication"):
        fake_r.read_message(i.write_message())


def test_transport_rejects_replay_reorder_and_forgery() -> None:
    i, r, _ = _pair()
    r.read_message(i.write_message())
    i.read_message(r.write_message())
    (send, _), (_, recv) = i.split(), r.split()
    m0, m1 = send.encrypt_with_ad(b"", b"a"), send.encrypt_with_ad(b"", b"b")
    with pytest.raises(NoiseError):
        recv.decrypt_with_ad(b"", m1)  # reordered
    assert recv.decrypt_with_ad(b"", m0) == b"a"  # a failure did not advance the nonce
    with pytest.raises(NoiseError):
        recv.decrypt_with_ad(b"", m0)  # replayed
    with pytest.raises(NoiseError):
        recv.decrypt_with_ad(b"", m1[:-1] + bytes([m1[-1] ^ 1]))  # forged
    assert recv.decrypt_with_ad(b"", m1) == b"b"


def test_out_of_turn_and_bad_lengths_are_errors() -> None:
    i, r, _ = _pair()
    with pytest.raises(NoiseError, match="turn"):
        i.read_message(b"\0" * 48)
    with pytest.raises(NoiseError, match="turn"):
        r.write_message()
    with pytest.raises(NoiseError, match="bytes"):
        r.read_message(b"short")
    with pytest.raises(NoiseError, match="not finished"):
        i.split()
    with pytest.raises(NoiseError, match="exceeds"):
        i.write_message(b"x" * MAX_MESSAGE)


def test_low_order_ephemeral_is_refused() -> None:
    _, r, _ = _pair()
    with pytest.raises(NoiseError, match="key agreement"):
        r.read_message(b"\0" * 32 + b"\0" * 16)


def test_cipher_without_key_passes_through() -> None:
    c = CipherState()
    assert not c.has_key()
    assert c.encrypt_with_ad(b"ad", b"x") == b"x"
