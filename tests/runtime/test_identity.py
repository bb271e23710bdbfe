"""Ed25519 member identities: the X25519 link key derived from them (the standard conversion,
checked against libsodium and against itself), key files, configs and the ``minuet keys``
tool, and the migration errors for old X25519 key files and configs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import nacl.bindings
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from runtime.config import load_config, parse_config
from runtime.errors import ConfigError
from runtime.identity import (
    Identity,
    decode_public,
    link_private_from_seed,
    link_public_from_ed25519,
    read_key_file,
    verify,
    write_key_file,
)
from runtime.keytool import local_network
from runtime.keytool import main as keys_main

P = 2**255 - 19


def test_link_key_is_the_standard_conversion() -> None:
    for _ in range(20):
        ident = Identity.generate()
        # libsodium's crypto_sign_ed25519_sk_to_curve25519 takes seed || public
        sk = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(ident.seed + ident.public)
        assert link_private_from_seed(ident.seed) == bytes(sk)
        # the public side, from the Ed25519 public key alone, is the birational map
        # u = (1 + y) / (1 - y) and agrees with X25519(link private key)
        y = int.from_bytes(ident.public, "little") & ((1 << 255) - 1)
        u = (1 + y) * pow(1 - y, P - 2, P) % P
        assert link_public_from_ed25519(ident.public) == u.to_bytes(32, "little") == ident.link_public


def test_rfc8032_seed_gives_known_public_key() -> None:
    # RFC 8032 section 7.1, TEST 1
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    ident = Identity(seed)
    assert ident.public.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert X25519PrivateKey.from_private_bytes(link_private_from_seed(seed)).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    ) == ident.link_public


def test_identity_signs() -> None:
    ident = Identity.generate()
    sig = ident.sign(b"echo: round 1 digest")
    assert verify(ident.public, sig, b"echo: round 1 digest")
    assert not verify(ident.public, sig, b"echo: another digest")
    assert not verify(Identity.generate().public, sig, b"echo: round 1 digest")
    assert ident.seed.hex() not in repr(ident)


def test_invalid_public_keys_refused() -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        decode_public(base64.b64encode(b"x" * 31).decode(), "m")
    with pytest.raises(ConfigError, match="not base64"):
        decode_public("***", "m")
    # y = 2 is not the y of any curve point; the identity point (y = 1) has small order
    for bad in (b"\x02" + b"\0" * 31, b"\x01" + b"\0" * 31):
        with pytest.raises(ConfigError, match="not a valid Ed25519"):
            decode_public(base64.b64encode(bad).decode(), "m")


def test_key_file_round_trip_and_old_kind(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    ident = write_key_file(path)
    assert json.loads(path.read_text())["kind"] == "minuet-ed25519-v1"
    assert read_key_file(path) == ident
    old = tmp_path / "old.key"
    old.write_text(json.dumps({"kind": "minuet-x25519-v1", "private": "AA==", "public": "AA=="}))
    old.chmod(0o600)
    with pytest.raises(ConfigError, match=r"old minuet-x25519-v1 key file.*minuet keys gen"):
        read_key_file(old)
    bad = tmp_path / "bad.key"
    bad.write_text(json.dumps({"kind": "minuet-ed25519-v1", "seed": base64.b64encode(b"s" * 32).decode(),
                               "public": ident.public_b64}))
    bad.chmod(0o600)
    with pytest.raises(ConfigError, match="does not match"):
        read_key_file(bad)


def test_old_config_gets_migration_error() -> None:
    obj = {"session": "s", "members": {"A": {"port": 7001, "public": base64.b64encode(b"k" * 32).decode()}}}
    with pytest.raises(ConfigError, match=r"member A: 'public' is an X25519 link key.*minuet keys config"):
        parse_config(obj)


def test_config_lists_ed25519_and_derives_link_keys(tmp_path: Path) -> None:
    cfg = load_config(local_network(tmp_path, ["A", "B"]))
    for m in cfg.members.values():
        assert m.key is not None and m.public is not None
        ident = read_key_file(m.key)
        assert m.public == ident.public and m.link_public == ident.link_public


def test_keys_tool(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.key"
    assert keys_main(["gen", str(key)]) == 0
    pub = capsys.readouterr().out.strip()
    assert keys_main(["pub", str(key)]) == 0
    assert capsys.readouterr().out.strip() == pub
    assert keys_main(["link", pub]) == 0
    link = capsys.readouterr().out.strip()
    assert keys_main(["link", str(key)]) == 0
    assert capsys.readouterr().out.strip() == link == base64.b64encode(read_key_file(key).link_public).decode()
    # convert: a PKCS#8 Ed25519 key from elsewhere (openssl genpkey -algorithm ed25519)
    sk = Ed25519PrivateKey.generate()
    pem = tmp_path / "k.pem"
    pem.write_bytes(sk.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    assert keys_main(["convert", str(pem), str(tmp_path / "c.key")]) == 0
    raw = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert capsys.readouterr().out.strip() == base64.b64encode(raw).decode()
    x = tmp_path / "x.pem"
    x.write_bytes(X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    assert keys_main(["convert", str(x), str(tmp_path / "d.key")]) == 2
    assert "not an Ed25519 key" in capsys.readouterr().err
    # config: fills each member's "ed25519"
    net = local_network(tmp_path / "net", ["A", "B"])
    obj = json.loads(net.read_text())
    for m in obj["members"].values():
        del m["ed25519"]
    net.write_text(json.dumps(obj))
    assert keys_main(["config", str(net)]) == 0
    cfg = load_config(net)
    assert all(m.public is not None for m in cfg.members.values())


def test_minuet_keys_subcommand(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "codegen.cli", "keys", "gen", str(tmp_path / "k.key")],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert read_key_file(tmp_path / "k.key").public_b64 == out.stdout.strip()
