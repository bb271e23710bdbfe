"""Key management: ``python -m runtime.keytool`` (also reachable as ``minuet run keys ...``).

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
import re
import socket
import sys
import tomllib
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
    """Write each member's public key (from its key file) into a JSON or TOML network config,
    read exactly as ``minuet run`` reads it."""
    p = Path(config_path)
    try:
        text = p.read_text(encoding="utf-8")
        obj = tomllib.loads(text) if p.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {e}") from None
    members = obj.get("members") if isinstance(obj, dict) else None
    if not isinstance(members, dict):
        raise ConfigError(f"{p}: no members table")
    # Only the key paths are read here: a stale or missing "ed25519" is what this replaces.
    publics = {
        name: read_key_file(p.parent / m["key"]).public_b64
        for name, m in members.items() if isinstance(m, dict) and isinstance(m.get("key"), str)
    }
    if p.suffix == ".toml":
        p.write_text(_toml_with_publics(text, publics, p), encoding="utf-8")
    else:
        for name, pub in publics.items():
            obj["members"][name]["ed25519"] = pub
        p.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    return publics


_TOML_TABLE = re.compile(r'^\s*\[\s*members\s*\.\s*(?:"(?P<q>[^"]+)"|(?P<bare>[A-Za-z0-9_-]+))\s*\]\s*(?:#.*)?$')
_TOML_PUBLIC = re.compile(r"^\s*ed25519\s*=")


def _toml_with_publics(text: str, publics: dict[str, str], where: Path) -> str:
    """Set ``ed25519 = "..."`` in each ``[members."NAME"]`` table, keeping every other line
    (the stdlib reads TOML but does not write it, so edit lines, not a re-serialised tree)."""
    lines = text.splitlines()
    out: list[str] = []
    member: str | None = None
    done: set[str] = set()

    def finish() -> None:
        if member in publics and member not in done:
            # No public line in the table: add one after its last key.
            at = len(out)
            while at > 0 and not out[at - 1].strip():
                at -= 1
            out.insert(at, f"ed25519 = {json.dumps(publics[member])}")
            done.add(member)

    for line in lines:
        m = _TOML_TABLE.match(line)
        if m or line.lstrip().startswith("["):
            finish()
            member = (m.group("q") or m.group("bare")) if m else None
        elif member in publics and _TOML_PUBLIC.match(line):
            line = f"ed25519 = {json.dumps(publics[member])}"
            done.add(member)
        out.append(line)
    finish()
    missing = sorted(set(publics) - done)
    if missing:
        raise ConfigError(f"{where}: write each member as a [members.\"NAME\"] table to have its "
                          f"public key filled in (not found: {', '.join(missing)})")
    return "\n".join(out) + "\n"


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
    sub.add_parser("config", help="fill public keys into a JSON or TOML network config").add_argument("config")
    sub.add_parser("list", help="list members and public keys of a config").add_argument("config")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "gen":
            Path(args.keyfile).parent.mkdir(parents=True, exist_ok=True)
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
        return 2
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
