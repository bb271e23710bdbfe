"""FROST signing as sessions of ``minuet node`` (role programs for ``runtime.node``).

A node's ``state_dir/frost/`` holds ``public.hex`` (the group's public key package) and the
key packages it holds, ``key-<identifier>.hex`` (mode 0600; ``write_node_keys``). A session
request's ``args``: ``message`` (hex) and ``signers`` (identifier of member i of the Signer
family); optional ``fail_after_commitment``: roles whose program stops with an error right
after sending its commitment (fault injection: a ceremony that fails mid-way).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from examples import frost_signing
from generated.threshold import frost_sign as fs
from runtime.contract import Endpoint
from runtime.crypto.keys import KeyPackage, PublicKeyPackage
from runtime.errors import ConfigError, InjectedCrash
from runtime.node import SessionContext

__all__ = ["coordinator", "signer", "write_node_keys"]


def write_node_keys(state_dir: Path, public: PublicKeyPackage, keys: Mapping[int, KeyPackage]) -> None:
    folder = state_dir / "frost"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "public.hex").write_text(public.to_bytes().hex(), encoding="utf-8")
    for ident, key in keys.items():
        path = folder / f"key-{ident}.hex"
        path.write_text(key.to_bytes().hex(), encoding="utf-8")
        path.chmod(0o600)


def _args(ctx: SessionContext) -> tuple[bytes, list[int]]:
    try:
        message = bytes.fromhex(ctx.args["message"])
        signers = [int(i) for i in ctx.args["signers"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"FrostSign args need 'message' (hex) and 'signers' (identifiers): {e}") from None
    return message, signers


def _read(path: Path) -> bytes:
    try:
        return bytes.fromhex(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None


async def coordinator(ep: Endpoint, ctx: SessionContext) -> bytes | list[int]:
    message, signers = _args(ctx)
    public = PublicKeyPackage.from_bytes(_read(ctx.state_dir / "frost" / "public.hex"))
    return await frost_signing.coordinator(ep, public, message, ctx.epoch, signers)


async def signer(ep: Endpoint, ctx: SessionContext) -> bytes | list[int]:
    _, signers = _args(ctx)
    index = ep.me.index
    if index is None or not 0 <= index < len(signers):
        raise ConfigError(f"{ctx.role} has no identifier in 'signers'")
    key = KeyPackage.from_bytes(_read(ctx.state_dir / "frost" / f"key-{signers[index]}.hex"))
    if ctx.role in ctx.args.get("fail_after_commitment", ()):
        return await _fail_after_commitment(ep, key)
    return await frost_signing.signer(ep, key)


async def _fail_after_commitment(ep: Endpoint, key: KeyPackage) -> bytes | list[int]:
    from runtime.crypto import frost

    _request, s1 = await fs.start_signer(ep).recv_sign_request()
    _nonces, mine = frost.commit(key)
    await s1.send_commitment(
        fs.Commitment(hiding=fs.Bytes32(mine.hiding.to_bytes()), binding=fs.Bytes32(mine.binding))
    )
    raise InjectedCrash("injected failure after the commitment")
