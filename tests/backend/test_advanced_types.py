"""The seed guide's AdvancedTypes (protocols/seed/advanced_types.yaml) run by role programs,
in memory and over TCP: Result<i32, CustomError> is a tagged union that survives the wire
as either variant."""

from __future__ import annotations

from typing import assert_never

import pytest

from generated.seed import advanced_types as at
from runtime.contract import Endpoint
from tests.runtime.harness import Runner


def programs(fail: bool, seen: list[str]) -> dict[str, object]:
    async def a(ep: Endpoint) -> at.A_End:
        s1 = await at.start_a(ep).send_container(at.Container(items=["x", "yy", "zzz"]))
        res, s2 = await s1.recv_result()
        match res.result:
            case at.Ok(value=v):
                seen.append(f"ok {v}")
            case at.CustomError(code=c, message=m):
                seen.append(f"error {c}: {m}")
            case other:
                assert_never(other)
        return await s2.send_request(at.Request(payload_data="next"))

    async def b(ep: Endpoint) -> at.B_End:
        box, s1 = await at.start_b(ep).recv_container()
        total = sum(len(i) for i in box.items)
        outcome: at.Outcome = at.CustomError(code=7, message="refused") if fail else at.Ok(value=total)
        req, end = await (await s1.send_result(at.Result(result=outcome))).recv_request()
        seen.append(f"request {req.payload_data}")
        return end

    return {"A": a, "B": b}


@pytest.mark.parametrize("fail", [False, True])
async def test_either_variant_of_the_union_crosses(fail: bool, run_roles: Runner) -> None:
    seen: list[str] = []
    out = await run_roles(at.PROTOCOL, programs(fail, seen))
    assert all(r.error is None for r in out.values()), out
    assert sorted(seen) == sorted(["error 7: refused" if fail else "ok 6", "request next"])
