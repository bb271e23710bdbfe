"""The two-buyer protocol run in memory through its generated, typed role classes.

``python -m examples.two_buyer_demo``: three role functions, each written against the
generated states (mypy --strict checks them), run in one trio nursery; the trace middleware
records every message and the transcript is printed as a Mermaid sequence diagram.
"""

from __future__ import annotations

import sys
from typing import assert_never

import trio

from generated.examples import two_buyer as tb
from runtime.contract import Endpoint
from runtime.memory import memory_session
from runtime.trace import TraceMiddleware
from runtime.trace_mermaid import render

BOOK = "The Art of Multiparty Sessions"
BUDGET = 60  # Buyer2 pays at most this much of the price


async def buyer1(ep: Endpoint) -> tb.Buyer1_End:
    s = await tb.start_buyer1(ep).send_title(tb.Title(name=BOOK))
    quote, s2 = await s.recv_quote()
    return await s2.send_share(tb.Share(amount=quote.price // 2))


async def buyer2(ep: Endpoint) -> tb.Buyer2_End:
    quote, s = await tb.start_buyer2(ep).recv_quote()
    share, s2 = await s.recv_share()
    if quote.price - share.amount <= BUDGET:
        s3 = await s2.select_accept()
        s4 = await s3.send_address(tb.Address(street="1 Session Street"))
        date, end = await s4.recv_date()
        print(f"Buyer2: delivery on {date.day}")
        return end
    s5 = await s2.select_reject()
    return await s5.send_quit(tb.Quit())


async def seller(ep: Endpoint) -> tb.Seller_End:
    title, s = await tb.start_seller(ep).recv_title()
    price = 100 if title.name == BOOK else 500
    s2 = await s.send_quote(tb.Quote(price=price))
    s3 = await s2.send_quote(tb.Quote(price=price))
    match await s3.offer():
        case tb.Seller_S3_Address(state=s4):
            return await s4.send_date(tb.Date(day="2026-12-01"))
        case tb.Seller_S3_Quit(state=end):
            return end
        case other:
            assert_never(other)


async def main() -> int:
    trace = TraceMiddleware(keep=True)
    async with memory_session(tb.PROTOCOL, middleware=[trace]) as net:
        results = await net.run({"Buyer1": buyer1, "Buyer2": buyer2, "Seller": seller})
    failed = {name: r.error for name, r in results.items() if not r.ok}
    if failed:
        for name, error in sorted(failed.items()):
            print(f"{name} failed: {error}", file=sys.stderr)
        return 1
    print(render(trace.events))
    print("two-buyer: all three roles reached End")
    return 0


if __name__ == "__main__":
    sys.exit(trio.run(main))
