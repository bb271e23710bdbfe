"""One DKG participant as its own OS process, over authenticated TCP links::

    MINUET_DKG_KEYS=DIR minuet run --config net.json --role 'Participant[2]' \\
        --entry examples.dkg_node:participant --pass endpoint

``DIR`` holds this ceremony's sealing keys (``write_sealing_keys``): ``seal-<i>.key``, the
private X25519 key of member i (hex), and ``directory.json``, every member's public key. The
sealing keys are separate from the link keys in the network config: one key, one protocol.
The process prints its identifier, the group key and its verifying share (never the secret
share, which a deployment would store sealed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from examples import dkg_ceremony
from generated.threshold.dkg import PROTOCOL
from runtime.contract import Endpoint
from runtime.crypto import seal
from runtime.crypto.rand import RandomSource, default_random
from runtime.errors import ConfigError

__all__ = ["PROTOCOL", "participant", "write_sealing_keys"]


def write_sealing_keys(folder: Path, n: int, rng: RandomSource | None = None) -> None:
    """Sealing key files for members 0..n-1 and the public directory."""
    folder.mkdir(parents=True, exist_ok=True)
    pairs, directory = dkg_ceremony.sealing_keys(n, rng or default_random())
    for i, pair in pairs.items():
        path = folder / f"seal-{i}.key"
        path.write_text(pair.private_key.private_bytes_raw().hex(), encoding="utf-8")
        path.chmod(0o600)
    (folder / "directory.json").write_text(
        json.dumps({str(i): pk.hex() for i, pk in directory.items()}), encoding="utf-8"
    )


def _load(folder: Path, me: int) -> tuple[seal.SealKeyPair, dict[int, bytes]]:
    try:
        private = bytes.fromhex((folder / f"seal-{me}.key").read_text(encoding="utf-8").strip())
        raw = json.loads((folder / "directory.json").read_text(encoding="utf-8"))
        directory = {int(k): bytes.fromhex(v) for k, v in raw.items()}
        return seal.SealKeyPair.from_private_bytes(private), directory
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise ConfigError(f"cannot read the sealing keys of member {me} in {folder}: {e}") from None


async def participant(ep: Endpoint) -> dict[str, object]:
    folder = os.environ.get("MINUET_DKG_KEYS")
    if not folder:
        raise ConfigError("set MINUET_DKG_KEYS to the folder of this ceremony's sealing keys")
    me = ep.me.index
    assert me is not None
    keys, directory = _load(Path(folder), me)
    outcome = await dkg_ceremony.participant(ep, b"minuet/dkg/processes", keys, directory)
    if isinstance(outcome, dkg_ceremony.DkgFailed):
        return {"failed": list(outcome.culprits), "reason": outcome.reason}
    if isinstance(outcome, dkg_ceremony.Disputed):
        # Settling it is a second session (Justify); a process deployment would run it as
        # the next `minuet run`, carrying this state (which holds secrets) between the two.
        return {"disputed": sorted(outcome.complaints)}
    kp, public = outcome
    return {
        "identifier": kp.identifier,
        "group_key": public.verifying_key.to_bytes().hex(),
        "verifying_share": kp.verifying_share.to_bytes().hex(),
    }
