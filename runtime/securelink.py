"""Authenticated, encrypted links between two session members (sans-IO, no trio).

The handshake is ``Noise_KK_25519_ChaChaPoly_SHA256`` (Noise spec rev. 34, ``runtime.noise``):
both static keys are known in advance (each member's X25519 link key, derived from the
Ed25519 identity in the config: ``runtime.identity``), fresh ephemerals on both sides. Link
protocol version 2 (version 1 was a home-made handshake "in the manner of" KK):

    msg1  I -> R : version | I | R | session id | epoch | Noise message 1 (-> e, es, ss)
    msg2  R -> I : Noise message 2 (<- e, ee, se)
    msg3  I -> R : the first transport message, empty (tells R the link is live)

    prologue = "minuet-link" | version | protocol | session id | epoch | I | R

The plaintext header tells the responder who dials (KK sends no static keys); it is checked
cheaply (``check_hello``) before any Diffie-Hellman. The prologue is mixed into the handshake
hash, so a header that differs from what the initiator signed into it, or two sides that
disagree on protocol, session, epoch or names, fail message 1's authentication (``es, ss``:
only the holder of I's static key can produce it) or message 2's (only R's). A hello of
another version is answered with ``REJECT`` and the version this side speaks, so the dialler
gets ``LinkVersionError`` rather than a silent hang-up.

Data frames are Noise transport messages (ChaCha20-Poly1305, implicit 64-bit nonces): the
receiver can only open the next message, so replayed, reordered, dropped-then-continued and
forged frames, and frames of any other link, fail with ``LinkError``. A frame body longer
than a Noise message allows (65535 bytes with the tag) is sealed as several messages, each
full but the last, back to back in one length-prefixed frame; all but the last use the
associated data ``MORE``, so a frame cannot be cut short or two frames joined.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, final

from runtime.codec import Reader, Writer
from runtime.errors import DecodeError, LinkAuthError, LinkError, LinkVersionError
from runtime.identity import Identity
from runtime.noise import MAX_MESSAGE, MAX_PAYLOAD, TAGLEN, CipherState, KKHandshake, NoiseError

VERSION: Final = 2
REJECT: Final = b"minuet-link-version"  # + uvarint(version): the answer to a hello of another version
MORE: Final = b"minuet-frame-continues"
_DIAGNOSE: Final = 8
_MSG_LEN: Final = 32 + TAGLEN  # both handshake messages: an ephemeral key and an empty payload's tag


# ---------------------------------------------------------------------------- data frames


@final
class FrameSealer:
    """One direction of a link, sending side: seals frame bodies in sequence."""

    __slots__ = ("_cipher", "seq")

    def __init__(self, cipher: CipherState) -> None:
        self._cipher = cipher
        self.seq = 0  # frames sealed (for traces; the nonce counts Noise messages)

    def seal(self, body: bytes) -> bytes:
        self.seq += 1
        c = self._cipher
        if len(body) <= MAX_PAYLOAD:
            return c.encrypt_with_ad(b"", body)
        view = memoryview(body)
        last = (len(body) - 1) // MAX_PAYLOAD * MAX_PAYLOAD
        parts = [c.encrypt_with_ad(MORE, view[i : i + MAX_PAYLOAD]) for i in range(0, last, MAX_PAYLOAD)]
        parts.append(c.encrypt_with_ad(b"", view[last:]))
        return b"".join(parts)


@final
class FrameOpener:
    """One direction of a link, receiving side: accepts exactly the next sealed frame."""

    __slots__ = ("_cipher", "seq")

    def __init__(self, cipher: CipherState) -> None:
        self._cipher = cipher
        self.seq = 0

    def open(self, frame: bytes) -> bytes:
        if len(frame) < TAGLEN:
            raise LinkError(f"sealed frame too short ({len(frame)} bytes)")
        c = self._cipher
        n = c.n
        try:
            if len(frame) <= MAX_MESSAGE:
                body = c.decrypt_with_ad(b"", frame)
            else:
                starts = range(0, len(frame), MAX_MESSAGE)
                if len(frame) - starts[-1] < TAGLEN:
                    raise LinkError(f"sealed frame of {len(frame)} bytes ends in a partial message")
                view = memoryview(frame)
                body = b"".join([
                    c.decrypt_with_ad(b"" if i == starts[-1] else MORE, view[i : i + MAX_MESSAGE])
                    for i in starts
                ])
        except NoiseError:
            c.n = n  # a rejected frame leaves the link's state as it was
            raise LinkError(self._diagnose(frame, n)) from None
        self.seq += 1
        return body

    def _diagnose(self, frame: bytes, n: int) -> str:
        """Why frame ``seq`` failed. Nonces are implicit, so a few neighbouring ones are tried
        (a handful of AEAD checks, once: a rejected frame ends the link)."""
        first = frame[:MAX_MESSAGE]
        ad = b"" if len(frame) <= MAX_MESSAGE else MORE
        c = self._cipher
        for d in range(1, _DIAGNOSE + 1):
            if c.authentic_at(n - d, ad, first):
                return f"replayed frame: sealed {d} message(s) before frame {self.seq}"
            if c.authentic_at(n + d, ad, first):
                return f"out-of-order frame: a gap of {d} message(s) before it (frames missing)"
        return (
            f"frame {self.seq} failed authentication (forged, corrupted, or from another link)"
        )


# ---------------------------------------------------------------------------- handshake


@dataclass(frozen=True, slots=True)
class LinkKeys:
    sealer: FrameSealer
    opener: FrameOpener


def prologue(protocol: str, session: str, epoch: int, initiator: str, responder: str) -> bytes:
    w = Writer()
    w.text("minuet-link")
    w.uvarint(VERSION)
    w.text(protocol)
    w.text(session)
    w.uvarint(epoch)
    w.text(initiator)
    w.text(responder)
    return w.getvalue()


def reject_message() -> bytes:
    w = Writer()
    w.uvarint(VERSION)
    return REJECT + w.getvalue()


@final
class Initiator:
    """The dialling side's handshake: ``hello()``, then ``finish(msg2) -> (msg3, keys)``."""

    def __init__(
        self, protocol: str, session: str, epoch: int, me: str, static: Identity,
        peer: str, peer_public: bytes,
    ) -> None:
        self._peer = peer
        try:
            self._hs = KKHandshake(True, prologue(protocol, session, epoch, me, peer), static.link_key, peer_public)
            noise1 = self._hs.write_message()
        except NoiseError as e:
            raise LinkError(f"cannot start a handshake with {peer}: {e}") from None
        w = Writer()
        w.uvarint(VERSION)
        w.text(me)
        w.text(peer)
        w.text(session)
        w.uvarint(epoch)
        self._msg1 = w.getvalue() + noise1

    def hello(self) -> bytes:
        return self._msg1

    def finish(self, msg2: bytes) -> tuple[bytes, LinkKeys]:
        if msg2.startswith(REJECT):
            try:
                theirs = Reader(msg2[len(REJECT) :]).uvarint()
            except DecodeError:
                theirs = -1
            raise LinkVersionError(self._peer, theirs, VERSION)
        if len(msg2) != _MSG_LEN:
            raise LinkError(f"handshake reply from {self._peer} has {len(msg2)} bytes, expected {_MSG_LEN}")
        try:
            self._hs.read_message(msg2)
        except NoiseError as e:
            raise LinkAuthError(self._peer, str(e)) from None
        send, recv = self._hs.split()
        keys = LinkKeys(FrameSealer(send), FrameOpener(recv))
        return send.encrypt_with_ad(b"", b""), keys


@dataclass(frozen=True, slots=True)
class Hello:
    initiator: str
    responder: str
    session: str
    epoch: int
    noise: bytes  # Noise message 1: e (32 bytes) | tag of the empty payload

    @property
    def ephemeral(self) -> bytes:
        return self.noise[:32]


def parse_hello(msg1: bytes) -> Hello:
    r = Reader(msg1)
    try:
        version = r.uvarint()
        if version != VERSION:
            raise LinkVersionError(_claimed_name(r), version, VERSION)
        hello = Hello(r.text(), r.text(), r.text(), r.uvarint(), r.fixed(_MSG_LEN))
        r.finish()
    except DecodeError as e:
        raise LinkError(f"malformed handshake: {e}") from None
    return hello


def _claimed_name(r: Reader) -> str:
    """The initiator's name in a hello of another version, if it starts as ours do (version
    1 did): only for the error message, so anything unreadable is just "a peer"."""
    try:
        return repr(r.text()[:80])
    except DecodeError:
        return "a peer"


# X25519 u-coordinates of small order (RFC 7748 section 6.1 says to reject them), taken
# mod p with the top bit ignored as X25519 does: an ephemeral key among them is refused before
# any Diffie-Hellman is computed.
_P: Final = 2**255 - 19
_LOW_ORDER: Final = frozenset({
    0, 1, _P - 1,
    325606250916557431795983626356110631294008115727848805560023387167927233504,
    39382357235489614581723060781553021112529911719440698176882885853963445705823,
})


def is_low_order(raw: bytes) -> bool:
    """Whether a 32-byte X25519 public key has small order (DH with it gives no secret)."""
    return (int.from_bytes(raw, "little") & ((1 << 255) - 1)) % _P in _LOW_ORDER


def check_hello(hello: Hello, session: str, epoch: int, me: str) -> None:
    """The responder's cheap checks of a parsed hello, done before any key agreement so a
    stranger's hello costs no public-key operation; ``LinkError`` names what is wrong."""
    if hello.responder != me:
        raise LinkError(f"handshake addressed to {hello.responder!r}, this is {me!r}")
    if hello.session != session or hello.epoch != epoch:
        raise LinkError(
            f"{hello.initiator!r} is in session {hello.session!r} epoch {hello.epoch}, "
            f"this is session {session!r} epoch {epoch}"
        )
    if is_low_order(hello.ephemeral):
        raise LinkError(f"{hello.initiator!r} sent an ephemeral key of small order")


@final
class Responder:
    """The accepting side's handshake for one parsed ``Hello`` from a known member: reads
    Noise message 1 (``LinkAuthError`` if the initiator cannot prove its identity), then
    ``reply()`` is message 2 and ``finish(msg3)`` checks the first transport message."""

    def __init__(
        self, protocol: str, session: str, epoch: int, me: str, static: Identity,
        hello: Hello, peer_public: bytes,
    ) -> None:
        check_hello(hello, session, epoch, me)
        self._peer = hello.initiator
        try:
            hs = KKHandshake(
                False, prologue(protocol, session, epoch, hello.initiator, me), static.link_key, peer_public,
            )
        except NoiseError as e:
            raise LinkError(f"cannot start a handshake with {self._peer}: {e}") from None
        try:
            hs.read_message(hello.noise)
            self._msg2 = hs.write_message()
        except NoiseError as e:
            raise LinkAuthError(self._peer, str(e)) from None
        send, recv = hs.split()
        self._keys = LinkKeys(FrameSealer(send), FrameOpener(recv))
        self._recv = recv

    def reply(self) -> bytes:
        return self._msg2

    def finish(self, msg3: bytes) -> LinkKeys:
        try:
            if self._recv.decrypt_with_ad(b"", msg3) != b"":
                raise LinkError(f"{self._peer}'s link confirmation is not empty")
        except NoiseError:
            raise LinkAuthError(self._peer, "link confirmation failed") from None
        return self._keys
