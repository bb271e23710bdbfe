"""Role programs over the generated TwoBuyer module (protocols/two_buyer.yaml), shared by the
runtime tests and the ``minuet run`` process test; plus the module internals the fuzz tests
poke at directly."""

from __future__ import annotations

from typing import Final, assert_never

from generated.examples import two_buyer as _g
from generated.examples.two_buyer import (
    PROTOCOL,
    Address,
    Buyer1_S0,
    Buyer2_S0,
    Date,
    Quit,
    Quote,
    Seller_S0,
    Share,
    Title,
    start_buyer1,
    start_buyer2,
    start_seller,
)
from runtime.contract import Endpoint, Step

__all__ = ["PROTOCOL", "STEP_SELLER_OFFER", "_dec_Address", "_dec_Quit", "_dec_Quote",
           "_dec_Title", "buyer1", "buyer1_main", "buyer2", "buyer2_main", "seller",
           "seller_main", "start_buyer1", "start_buyer2", "start_seller"]

STEP_SELLER_OFFER: Final[Step] = _g._STEP_Seller_3  # Seller waits for Address | Quit
_dec_Title = _g._dec_Title
_dec_Quote = _g._dec_Quote
_dec_Address = _g._dec_Address
_dec_Quit = _g._dec_Quit


async def buyer1(s: Buyer1_S0, title: str = "TAPL") -> int:
    s1 = await s.send_title(Title(name=title))
    quote, s2 = await s1.recv_quote()
    await s2.send_share(Share(amount=quote.price // 2))
    return quote.price


async def buyer2(s: Buyer2_S0, budget: int = 60) -> str:
    quote, s1 = await s.recv_quote()
    share, s2 = await s1.recv_share()
    if quote.price - share.amount <= budget:
        s3 = await (await s2.select_accept()).send_address(Address(street="1 Main St"))
        date, _ = await s3.recv_date()
        return date.day
    await (await s2.select_reject()).send_quit(Quit())
    return "rejected"


async def seller(s: Seller_S0, price: int = 100) -> str:
    title, s1 = await s.recv_title()
    s2 = await s1.send_quote(Quote(price=price))
    s3 = await s2.send_quote(Quote(price=price))
    match await s3.offer():
        case _g.Seller_S3_Address(state=s4):
            await s4.send_date(Date(day="2024-06-01"))
            return f"sold {title.name}"
        case _g.Seller_S3_Quit():
            return "no sale"
        case other:
            assert_never(other)


async def buyer1_main(ep: Endpoint) -> int:
    return await buyer1(start_buyer1(ep))


async def buyer2_main(ep: Endpoint) -> str:
    return await buyer2(start_buyer2(ep))


async def seller_main(ep: Endpoint) -> str:
    return await seller(start_seller(ep))
