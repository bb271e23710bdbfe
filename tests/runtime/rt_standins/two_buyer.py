"""Hand-written stand-in for ``generated/examples/two_buyer.py`` (protocols/two_buyer.yaml),
following the generator contract exactly; see ``rt_standins/ping_pong.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from runtime.codec import Reader as _Reader
from runtime.codec import Writer as _Writer
from runtime.contract import Endpoint as _Endpoint
from runtime.contract import Peer as _Peer
from runtime.contract import ProtocolInfo as _ProtocolInfo
from runtime.contract import RoleInfo as _RoleInfo
from runtime.contract import Step as _Step
from runtime.linear import PRIVATE as _PRIVATE
from runtime.linear import LinearState as _LinearState

_SPEC: Final = "protocols/two_buyer.yaml"
PROTOCOL: Final = _ProtocolInfo(
    "TwoBuyer", (_RoleInfo("Buyer1"), _RoleInfo("Buyer2"), _RoleInfo("Seller")), (), _SPEC
)


@dataclass(frozen=True, slots=True)
class Title:
    name: str


@dataclass(frozen=True, slots=True)
class Quote:
    price: int


@dataclass(frozen=True, slots=True)
class Share:
    amount: int


@dataclass(frozen=True, slots=True)
class Address:
    street: str


@dataclass(frozen=True, slots=True)
class Date:
    day: str


@dataclass(frozen=True, slots=True)
class Quit:
    pass


def _enc_Title(v: Title) -> bytes:
    w = _Writer()
    w.text(v.name)
    return w.getvalue()


def _dec_Title(b: bytes) -> Title:
    r = _Reader(b)
    v = Title(name=r.text())
    r.finish()
    return v


def _enc_Quote(v: Quote) -> bytes:
    w = _Writer()
    w.sint(v.price)
    return w.getvalue()


def _dec_Quote(b: bytes) -> Quote:
    r = _Reader(b)
    v = Quote(price=r.sint())
    r.finish()
    return v


def _enc_Share(v: Share) -> bytes:
    w = _Writer()
    w.sint(v.amount)
    return w.getvalue()


def _dec_Share(b: bytes) -> Share:
    r = _Reader(b)
    v = Share(amount=r.sint())
    r.finish()
    return v


def _enc_Address(v: Address) -> bytes:
    w = _Writer()
    w.text(v.street)
    return w.getvalue()


def _dec_Address(b: bytes) -> Address:
    r = _Reader(b)
    v = Address(street=r.text())
    r.finish()
    return v


def _enc_Date(v: Date) -> bytes:
    w = _Writer()
    w.text(v.day)
    return w.getvalue()


def _dec_Date(b: bytes) -> Date:
    r = _Reader(b)
    v = Date(day=r.text())
    r.finish()
    return v


def _enc_Quit(v: Quit) -> bytes:
    return b""


def _dec_Quit(b: bytes) -> Quit:
    r = _Reader(b)
    r.finish()
    return Quit()


_PEER_Buyer1: Final = _Peer("Buyer1")
_PEER_Buyer2: Final = _Peer("Buyer2")
_PEER_Seller: Final = _Peer("Seller")
_STEP_0: Final = _Step("TwoBuyer", "Buyer1", "Buyer1_S0", "Title", f"{_SPEC}:13:5")
_STEP_1: Final = _Step("TwoBuyer", "Buyer1", "Buyer1_S1", "Quote", f"{_SPEC}:14:5")
_STEP_2: Final = _Step("TwoBuyer", "Buyer1", "Buyer1_S2", "Share", f"{_SPEC}:16:5")
_STEP_3: Final = _Step("TwoBuyer", "Buyer2", "Buyer2_S0", "Quote", f"{_SPEC}:15:5")
_STEP_4: Final = _Step("TwoBuyer", "Buyer2", "Buyer2_S1", "Share", f"{_SPEC}:16:5")
_STEP_5: Final = _Step("TwoBuyer", "Buyer2", "Buyer2_S2", "Address", f"{_SPEC}:20:11")
_STEP_6: Final = _Step("TwoBuyer", "Buyer2", "Buyer2_S2", "Quit", f"{_SPEC}:23:11")
_STEP_7: Final = _Step("TwoBuyer", "Buyer2", "Buyer2_S3", "Date", f"{_SPEC}:21:11")
_STEP_8: Final = _Step("TwoBuyer", "Seller", "Seller_S0", "Title", f"{_SPEC}:13:5")
_STEP_9: Final = _Step("TwoBuyer", "Seller", "Seller_S1", "Quote", f"{_SPEC}:14:5")
_STEP_10: Final = _Step("TwoBuyer", "Seller", "Seller_S2", "Quote", f"{_SPEC}:15:5")
_STEP_11: Final = _Step("TwoBuyer", "Seller", "Seller_S3", "Address|Quit", f"{_SPEC}:18:5")
_STEP_12: Final = _Step("TwoBuyer", "Seller", "Seller_S4", "Date", f"{_SPEC}:21:11")


class Buyer1_End(_LinearState):
    pass


class Buyer1_S0(_LinearState):
    async def send_title(self, msg: Title) -> Buyer1_S1:
        _ep = self._take("send_title")
        await _ep.send(_PEER_Seller, "Title", msg, _enc_Title, _STEP_0)
        return Buyer1_S1(_ep, _PRIVATE)


class Buyer1_S1(_LinearState):
    async def recv_quote(self) -> tuple[Quote, Buyer1_S2]:
        _ep = self._take("recv_quote")
        _lbl, _v = await _ep.recv(_PEER_Seller, {"Quote": _dec_Quote}, _STEP_1)
        assert isinstance(_v, Quote)
        return _v, Buyer1_S2(_ep, _PRIVATE)


class Buyer1_S2(_LinearState):
    async def send_share(self, msg: Share) -> Buyer1_End:
        _ep = self._take("send_share")
        await _ep.send(_PEER_Buyer2, "Share", msg, _enc_Share, _STEP_2)
        await _ep.close()
        return Buyer1_End(_ep, _PRIVATE)


class Buyer2_End(_LinearState):
    pass


class Buyer2_S0(_LinearState):
    async def recv_quote(self) -> tuple[Quote, Buyer2_S1]:
        _ep = self._take("recv_quote")
        _lbl, _v = await _ep.recv(_PEER_Seller, {"Quote": _dec_Quote}, _STEP_3)
        assert isinstance(_v, Quote)
        return _v, Buyer2_S1(_ep, _PRIVATE)


class Buyer2_S1(_LinearState):
    async def recv_share(self) -> tuple[Share, Buyer2_S2]:
        _ep = self._take("recv_share")
        _lbl, _v = await _ep.recv(_PEER_Buyer1, {"Share": _dec_Share}, _STEP_4)
        assert isinstance(_v, Share)
        return _v, Buyer2_S2(_ep, _PRIVATE)


class Buyer2_S2(_LinearState):
    async def select_accept(self, msg: Address) -> Buyer2_S3:
        _ep = self._take("select_accept")
        await _ep.send(_PEER_Seller, "Address", msg, _enc_Address, _STEP_5)
        return Buyer2_S3(_ep, _PRIVATE)

    async def select_reject(self, msg: Quit) -> Buyer2_End:
        _ep = self._take("select_reject")
        await _ep.send(_PEER_Seller, "Quit", msg, _enc_Quit, _STEP_6)
        await _ep.close()
        return Buyer2_End(_ep, _PRIVATE)


class Buyer2_S3(_LinearState):
    async def recv_date(self) -> tuple[Date, Buyer2_End]:
        _ep = self._take("recv_date")
        _lbl, _v = await _ep.recv(_PEER_Seller, {"Date": _dec_Date}, _STEP_7)
        assert isinstance(_v, Date)
        await _ep.close()
        return _v, Buyer2_End(_ep, _PRIVATE)


class Seller_End(_LinearState):
    pass


class Seller_S0(_LinearState):
    async def recv_title(self) -> tuple[Title, Seller_S1]:
        _ep = self._take("recv_title")
        _lbl, _v = await _ep.recv(_PEER_Buyer1, {"Title": _dec_Title}, _STEP_8)
        assert isinstance(_v, Title)
        return _v, Seller_S1(_ep, _PRIVATE)


class Seller_S1(_LinearState):
    async def send_quote(self, msg: Quote) -> Seller_S2:
        _ep = self._take("send_quote")
        await _ep.send(_PEER_Buyer1, "Quote", msg, _enc_Quote, _STEP_9)
        return Seller_S2(_ep, _PRIVATE)


class Seller_S2(_LinearState):
    async def send_quote(self, msg: Quote) -> Seller_S3:
        _ep = self._take("send_quote")
        await _ep.send(_PEER_Buyer2, "Quote", msg, _enc_Quote, _STEP_10)
        return Seller_S3(_ep, _PRIVATE)


class Seller_S3(_LinearState):
    async def offer(self) -> tuple[Address, Seller_S4] | tuple[Quit, Seller_End]:
        _ep = self._take("offer")
        _lbl, _v = await _ep.recv(_PEER_Buyer2, {"Address": _dec_Address, "Quit": _dec_Quit}, _STEP_11)
        if _lbl == "Address":
            assert isinstance(_v, Address)
            return _v, Seller_S4(_ep, _PRIVATE)
        assert isinstance(_v, Quit)
        await _ep.close()
        return _v, Seller_End(_ep, _PRIVATE)


class Seller_S4(_LinearState):
    async def send_date(self, msg: Date) -> Seller_End:
        _ep = self._take("send_date")
        await _ep.send(_PEER_Buyer2, "Date", msg, _enc_Date, _STEP_12)
        await _ep.close()
        return Seller_End(_ep, _PRIVATE)


def start_buyer1(ep: _Endpoint) -> Buyer1_S0:
    return Buyer1_S0(ep, _PRIVATE)


def start_buyer2(ep: _Endpoint) -> Buyer2_S0:
    return Buyer2_S0(ep, _PRIVATE)


def start_seller(ep: _Endpoint) -> Seller_S0:
    return Seller_S0(ep, _PRIVATE)


# Role functions (what a user writes against the generated API).


async def buyer1(s: Buyer1_S0, title: str = "TAPL") -> int:
    s1 = await s.send_title(Title(title))
    quote, s2 = await s1.recv_quote()
    await s2.send_share(Share(quote.price // 2))
    return quote.price


async def buyer2(s: Buyer2_S0, budget: int = 60) -> str:
    quote, s1 = await s.recv_quote()
    share, s2 = await s1.recv_share()
    if quote.price - share.amount <= budget:
        s3 = await s2.select_accept(Address("1 Main St"))
        date, _ = await s3.recv_date()
        return date.day
    await s2.select_reject(Quit())
    return "rejected"


async def seller(s: Seller_S0, price: int = 100) -> str:
    title, s1 = await s.recv_title()
    s2 = await s1.send_quote(Quote(price))
    s3 = await s2.send_quote(Quote(price))
    got = await s3.offer()
    if isinstance(got[1], Seller_S4):
        await got[1].send_date(Date("2024-06-01"))
        return f"sold {title.name}"
    return "no sale"


async def buyer1_main(ep: _Endpoint) -> int:
    return await buyer1(start_buyer1(ep))


async def buyer2_main(ep: _Endpoint) -> str:
    return await buyer2(start_buyer2(ep))


async def seller_main(ep: _Endpoint) -> str:
    return await seller(start_seller(ep))
