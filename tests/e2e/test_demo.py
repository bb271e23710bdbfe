"""The README's main command ends in this demo: it must run the protocol to End."""

from __future__ import annotations

import pytest

from examples import (
    dkg_ceremony,
    elected_signing,
    guardian_recovery,
    key_derivation,
    reshare_ceremony,
    two_buyer_demo,
)


async def test_two_buyer_demo_reaches_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert await two_buyer_demo.main() == 0
    out = capsys.readouterr().out
    assert "Buyer2->>Seller: Address" in out
    assert "all three roles reached End" in out


async def test_dkg_demo_signs_with_the_new_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert await dkg_ceremony.main() == 0
    out = capsys.readouterr().out
    assert "3-of-5 DKG: group key " in out
    assert "FROST signature by identifiers 1..3 under it: " in out


async def test_key_derivation_demo_derives_one_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert await key_derivation.main() == 0
    out = capsys.readouterr().out
    assert "(the same from holders {1,2,3} and {3,4,5})" in out
    assert "FROST signature under the derived key: " in out


async def test_elected_signing_demo_survives_its_coordinator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await elected_signing.main() == 0
    out = capsys.readouterr().out
    assert "epoch 0: " in out and "failed" in out.splitlines()[0]
    assert out.splitlines()[1].startswith("epoch 1: ") and out.splitlines()[1].endswith("signed")


async def test_reshare_demo_keeps_the_group_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert await reshare_ceremony.main() == 0
    out = capsys.readouterr().out
    assert "resharing: 2-of-3 -> 3-of-5, group key " in out and "unchanged" in out
    assert "refresh of the 3-of-5 shares, then a FROST signature: " in out


async def test_recovery_demo_signs_with_the_restored_share(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await guardian_recovery.main() == 0
    out = capsys.readouterr().out
    assert "holder 2's share restored by guardians 1, 3, 5" in out
    assert "FROST signature with the restored share: " in out
