"""Key management: ``python -m runtime.keys`` (also reachable as ``minuet run keys ...``).

    minuet keys gen KEYFILE [--force]        write a new Ed25519 identity (mode 0600), print its public key
    minuet keys pub KEYFILE                  print its Ed25519 public key (base64)
    minuet keys link PUBLIC|KEYFILE          print the X25519 link public key derived from it
    minuet keys convert PEM KEYFILE [--force]
                                             import an Ed25519 PKCS#8 or OpenSSH private key
    minuet keys config NET.json              fill every member's "ed25519" from its key file
    minuet keys list NET.json|NET.toml       list members with their public keys

Old X25519 key files (link version 1) cannot be converted: they hold no Ed25519 seed, and
reading one says how to re-key.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import sys
from pathlib import Path

from runtime.config import load_config
from runtime.errors import ConfigError
from runtime.identity import (
    Identity,
    decode_public,
    link_public_from_ed25519,
    read_key_file,
    write_key_file,
)
from runtime.tcp import bind_listener


def fill_public_keys(config_path: str | Path) -> dict[str, str]:
    """Write each member's public key (from its key file) into a JSON network config."""
    p = Path(config_path)
    obj = json.loads(p.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for name, m in obj.get("members", {}).items():
        if "key" in m:
            out[name] = m["ed25519"] = read_key_file(p.parent / m["key"]).public_b64
    p.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    return out


def link_public(key: str) -> bytes:
    """The X25519 link public key of a base64 Ed25519 public key or of a key file."""
    if Path(key).exists():
        return read_key_file(key).link_public
    return link_public_from_ed25519(decode_public(key, "public key"))


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="minuet keys", description="member identities (Ed25519)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen", help="write a new key file (0600)")
    g.add_argument("keyfile")
    g.add_argument("--force", action="store_true", help="overwrite an existing file")
    sub.add_parser("pub", help="print the public key of a key file").add_argument("keyfile")
    sub.add_parser("link", help="print the X25519 link key of a public key or key file").add_argument("key")
    c = sub.add_parser("convert", help="import an Ed25519 PKCS#8 or OpenSSH private key")
    c.add_argument("pem")
    c.add_argument("keyfile")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    sub.add_parser("config", help="fill public keys into a JSON network config").add_argument("config")
    sub.add_parser("list", help="list members and public keys of a config").add_argument("config")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "gen":
            key = write_key_file(args.keyfile, overwrite=args.force)
            print(key.public_b64)
        elif args.cmd == "pub":
            print(read_key_file(args.keyfile).public_b64)
        elif args.cmd == "link":
            print(base64.b64encode(link_public(args.key)).decode("ascii"))
        elif args.cmd == "convert":
            ident = Identity.from_pem(Path(args.pem).read_bytes(), args.pem)
            print(write_key_file(args.keyfile, ident, overwrite=args.force).public_b64)
        elif args.cmd == "config":
            for name, pub in fill_public_keys(args.config).items():
                print(f"{name}\t{pub}")
        else:
            cfg = load_config(args.config)
            for name, m in cfg.members.items():
                pub = base64.b64encode(m.public).decode() if m.public else "(missing)"
                print(f"{name}\t{m.host}:{m.port}\t{pub}")
    except (ConfigError, FileExistsError, OSError, ValueError) as e:
        print(f"minuet keys: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def bound_local_network(
    directory: str | Path, members: list[str], *, session: str = "local", **settings: object
) -> tuple[Path, dict[str, socket.socket]]:
    """Generate keys and a loopback JSON network config for ``members`` under ``directory``
    (for tests, demos and benchmarks); returns the config path and every member's listening
    socket, bound before its port was written down: pass it to ``tcp_session(listener=...)``,
    so no other member or process can take the port in between."""
    d = Path(directory)
    (d / "keys").mkdir(parents=True, exist_ok=True)
    entries: dict[str, dict[str, object]] = {}
    sockets: dict[str, socket.socket] = {}
    try:
        for name in members:
            fname = name.replace("[", "_").replace("]", "") + ".key"
            key = write_key_file(d / "keys" / fname, overwrite=True)
            sock = sockets[name] = bind_listener("127.0.0.1", 0, who=name)
            entries[name] = {
                "host": "127.0.0.1", "port": sock.getsockname()[1], "key": f"keys/{fname}",
                "ed25519": key.public_b64,
            }
    except BaseException:
        for sock in sockets.values():
            sock.close()
        raise
    path = d / "net.json"
    path.write_text(json.dumps({"session": session, **settings, "members": entries}, indent=2), encoding="utf-8")
    return path, sockets


def local_network(
    directory: str | Path, members: list[str], *, session: str = "local", **settings: object
) -> Path:
    """``bound_local_network`` for members that run in other processes: the sockets are
    closed again, so each process binds its own port. Every port was held at once, so two
    members never get the same one; only a port taken by an unrelated process in between
    fails, with a ``ConfigError`` naming the member and the address."""
    path, sockets = bound_local_network(directory, members, session=session, **settings)
    for sock in sockets.values():
        sock.close()
    return path
