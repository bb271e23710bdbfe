"""Frames: what travels on a link between two members of a session (sans-IO, no trio).

A frame body is ``kind (1 byte) | label (uvarint length + UTF-8) | payload``. On TCP every
frame (handshake or sealed data) is preceded by a 4-byte big-endian length, and a
``FrameBuffer`` turns a byte stream back into frames, rejecting lengths over ``max_size``
before buffering them so a hostile peer cannot make us allocate.
"""

from __future__ import annotations

import struct
from typing import Final, NamedTuple, final

from runtime.codec import Reader, Writer
from runtime.errors import DecodeError, FrameError

# Kinds that travel on the wire.
DATA: Final = 0  # a protocol message
CLOSE: Final = 1  # the sender reached End and will send nothing more
ABORT: Final = 2  # the sender's session failed; the label carries the reason
WIRE_KINDS: Final = frozenset({DATA, CLOSE, ABORT})
# Kinds a transport puts into an inbox itself (never on the wire).
GONE: Final = 16  # the link was lost (socket EOF/reset, task died): label is the reason
VIOLATION: Final = 17  # the link layer rejected a frame: label is what arrived
TIMEOUT: Final = 18  # the receive deadline passed
INTERRUPTED: Final = 19  # our own session failed while we waited

DEFAULT_MAX_FRAME: Final = 1 << 20
MAX_LABEL: Final = 256
_LEN: Final = struct.Struct(">I")
LEN_SIZE: Final = _LEN.size

class Item(NamedTuple):
    """One frame (or event: GONE, TIMEOUT, ...) queued in an inbox."""

    kind: int
    seq: int
    label: str
    data: object  # the payload bytes, or the payload itself on a pass-through memory session
    crc: int  # -1 where nothing is checked


def encode_body(kind: int, label: str, data: bytes) -> bytes:
    w = Writer()
    w.uvarint(kind)
    w.text(label)
    return w.getvalue() + data


def decode_body(body: bytes) -> tuple[int, str, bytes]:
    """Split a frame body; every malformed input raises ``FrameError``."""
    r = Reader(body)
    try:
        kind = r.uvarint()
        label = r.text()
    except DecodeError as e:
        raise FrameError(f"malformed frame header: {e}") from None
    if kind not in WIRE_KINDS:
        raise FrameError(f"unknown frame kind {kind}")
    if len(label) > MAX_LABEL:
        raise FrameError(f"label longer than {MAX_LABEL} characters")
    return kind, label, r.rest()


def length_prefix(frame: bytes) -> bytes:
    return _LEN.pack(len(frame)) + frame


@final
class FrameBuffer:
    """Reassembles length-prefixed frames from stream chunks."""

    __slots__ = ("_buf", "max_size")

    def __init__(self, max_size: int = DEFAULT_MAX_FRAME) -> None:
        self._buf = bytearray()
        self.max_size = max_size

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_frame(self) -> bytes | None:
        """The next complete frame, or None until more bytes arrive."""
        buf = self._buf
        if len(buf) < LEN_SIZE:
            return None
        (n,) = _LEN.unpack_from(buf)
        if n > self.max_size:
            raise FrameError(f"frame of {n} bytes exceeds the maximum of {self.max_size}")
        end = LEN_SIZE + n
        if len(buf) < end:
            return None
        frame = bytes(buf[LEN_SIZE:end])
        del buf[:end]
        return frame

    @property
    def pending(self) -> int:
        return len(self._buf)
