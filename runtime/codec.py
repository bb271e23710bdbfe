"""Deterministic binary codec primitives for generated message codecs (sans-IO, no pickle).

Layout: unsigned LEB128 varints for lengths and counts, zigzag varints for ints, IEEE-754
big-endian doubles, one byte for bools and optional presence. Every decode checks bounds,
so a hostile frame yields ``DecodeError``, never an IndexError or a huge allocation.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import ClassVar, Final, TypeVar, final

from runtime.errors import DecodeError

T = TypeVar("T")
K = TypeVar("K")
F = TypeVar("F", bound="FixedBytes")

# An int field carries at most this many bits; bounds hostile varints.
MAX_INT_BITS: Final = 4096
_DOUBLE = struct.Struct(">d")


class FixedBytes(bytes):
    """Bytes of exactly ``SIZE`` bytes, one subclass per size (``bytesN`` fields).

    The constructor checks the length, so a wrong size fails where a message is built, and
    mypy keeps a ``Bytes32`` field from taking arbitrary ``bytes`` (or a ``Bytes64``). A
    ``Bytes32`` is still ``bytes`` wherever bytes are read.
    """

    __slots__ = ()
    SIZE: ClassVar[int]

    def __new__(cls: type[F], value: bytes) -> F:
        if len(value) != cls.SIZE:
            raise ValueError(f"{cls.__name__} needs exactly {cls.SIZE} bytes, got {len(value)}")
        return super().__new__(cls, value)

    @classmethod
    def zero(cls: type[F]) -> F:
        """``SIZE`` zero bytes."""
        return cls(bytes(cls.SIZE))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({bytes(self)!r})"


class Bytes16(FixedBytes):
    __slots__ = ()
    SIZE = 16


class Bytes32(FixedBytes):
    __slots__ = ()
    SIZE = 32


class Bytes64(FixedBytes):
    __slots__ = ()
    SIZE = 64


# The sizes with a class here; a generated module defines its own for any other size.
FIXED_BYTES: Final[dict[int, type[FixedBytes]]] = {16: Bytes16, 32: Bytes32, 64: Bytes64}


@final
class Writer:
    """Appends encoded values to a buffer."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def uvarint(self, n: int) -> None:
        buf = self._buf
        while n >= 0x80:
            buf.append((n & 0x7F) | 0x80)
            n >>= 7
        buf.append(n)

    def sint(self, value: int) -> None:
        z = value << 1 if value >= 0 else ((-value) << 1) - 1  # zigzag
        if z < 0x4000:  # one or two bytes, the common case: no loop, no size check
            if z < 0x80:
                self._buf.append(z)
            else:
                self._buf.append((z & 0x7F) | 0x80)
                self._buf.append(z >> 7)
            return
        if value.bit_length() > MAX_INT_BITS:
            raise ValueError(f"int field exceeds {MAX_INT_BITS} bits")
        self.uvarint(z)

    def boolean(self, value: bool) -> None:
        self._buf.append(1 if value else 0)

    def double(self, value: float) -> None:
        self._buf += _DOUBLE.pack(value)

    def text(self, value: str) -> None:
        data = value.encode("utf-8")
        self.uvarint(len(data))
        self._buf += data

    def blob(self, value: bytes) -> None:
        self.uvarint(len(value))
        self._buf += value

    def fixed(self, value: bytes, size: int) -> None:
        if len(value) != size:
            raise ValueError(f"expected exactly {size} bytes, got {len(value)}")
        self._buf += value

    def seq(self, items: list[T] | tuple[T, ...], item: Callable[[Writer, T], None]) -> None:
        self.uvarint(len(items))
        for x in items:
            item(self, x)

    def opt(self, value: T | None, item: Callable[[Writer, T], None]) -> None:
        if value is None:
            self._buf.append(0)
        else:
            self._buf.append(1)
            item(self, value)

    def mapping(
        self, value: dict[K, T], key: Callable[[Writer, K], None], item: Callable[[Writer, T], None]
    ) -> None:
        """A count, then the entries in the order of their encoded keys: equal maps encode
        to equal bytes, whatever order they were built in (signatures and digests rely on it)."""
        entries = []
        for k, v in value.items():
            kw = Writer()
            key(kw, k)
            entries.append((kw.getvalue(), v))
        entries.sort(key=lambda e: e[0])
        self.uvarint(len(entries))
        for kb, v in entries:
            self._buf += kb
            item(self, v)


@final
class Reader:
    """Reads values back, validating every tag, length and size."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def _take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise DecodeError(
                f"truncated {what}: need {n} bytes at offset {self._pos}, "
                f"have {len(self._data) - self._pos}"
            )
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def uvarint(self) -> int:
        data = self._data
        pos = self._pos
        size = len(data)
        if pos + 1 < size:  # one or two bytes, the common case: no loop
            b = data[pos]
            if b < 0x80:
                self._pos = pos + 1
                return b
            c = data[pos + 1]
            if 0 < c < 0x80:  # c == 0 is non-canonical: the loop below says so
                self._pos = pos + 2
                return (b & 0x7F) | (c << 7)
        result = 0
        shift = 0
        while True:
            if pos >= size:
                raise DecodeError(f"truncated varint at offset {pos}")
            b = data[pos]
            pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                if b == 0 and shift:
                    raise DecodeError("non-canonical varint (redundant zero byte)")
                self._pos = pos
                return result
            shift += 7
            if shift > MAX_INT_BITS + 7:
                raise DecodeError(f"varint longer than {MAX_INT_BITS} bits")

    def length(self, what: str) -> int:
        n = self.uvarint()
        if n > len(self._data) - self._pos:
            raise DecodeError(f"{what} length {n} exceeds the {len(self._data) - self._pos} bytes left")
        return n

    def sint(self) -> int:
        pos = self._pos
        if pos < len(self._data):  # a one-byte varint, the common case: uvarint inlined
            z = self._data[pos]
            if z < 0x80:
                self._pos = pos + 1
                return (z >> 1) if not z & 1 else -((z + 1) >> 1)
        z = self.uvarint()
        return (z >> 1) if not z & 1 else -((z + 1) >> 1)

    def boolean(self) -> bool:
        b = self._take(1, "bool")[0]
        if b > 1:
            raise DecodeError(f"invalid bool byte {b}")
        return b == 1

    def double(self) -> float:
        return float(_DOUBLE.unpack(self._take(8, "float"))[0])

    def text(self) -> str:
        raw = self._take(self.length("str"), "str")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 in str field: {e.reason}") from None

    def blob(self) -> bytes:
        return self._take(self.length("bytes"), "bytes")

    def fixed(self, size: int) -> bytes:
        # _take spelt out: its description would be formatted on every call.
        pos = self._pos
        end = pos + size
        if end > len(self._data):
            self._take(size, f"bytes[{size}]")  # raises the truncation error
        self._pos = end
        return self._data[pos:end]

    def fixed_bytes(self, cls: type[F]) -> F:
        # Exactly SIZE bytes are taken: skip the constructor's (Python-level) check.
        size = cls.SIZE
        pos = self._pos
        end = pos + size
        if end > len(self._data):
            self._take(size, f"bytes[{size}]")  # raises the truncation error
        self._pos = end
        return bytes.__new__(cls, self._data[pos:end])

    def seq(self, item: Callable[[Reader], T]) -> list[T]:
        # Each element takes at least one byte unless it is empty, so a count larger than
        # the bytes left is rejected before any allocation.
        n = self.length("list")
        return [item(self) for _ in range(n)]

    def opt(self, item: Callable[[Reader], T]) -> T | None:
        tag = self._take(1, "optional tag")[0]
        if tag == 0:
            return None
        if tag == 1:
            return item(self)
        raise DecodeError(f"invalid optional tag {tag}")

    def tag(self, variants: int) -> int:
        """The tag of a tagged union of ``variants`` records (an index, checked)."""
        t = self.uvarint()
        if t >= variants:
            raise DecodeError(f"union tag {t} is not one of its {variants} variants")
        return t

    def mapping(self, key: Callable[[Reader], K], item: Callable[[Reader], T]) -> dict[K, T]:
        # Keys must come in strictly increasing encoded order, as Writer.mapping puts them:
        # a repeated key or another order is a different encoding of some map, so rejected.
        n = self.length("map")
        out: dict[K, T] = {}
        last: bytes | None = None
        for _ in range(n):
            start = self._pos
            k = key(self)
            kb = self._data[start : self._pos]
            if last is not None and kb <= last:
                raise DecodeError("map keys repeated or not in canonical order")
            last = kb
            out[k] = item(self)
        return out

    def rest(self) -> bytes:
        """Everything not read yet (consumed); used by framing to split header from payload."""
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{len(self._data) - self._pos} trailing bytes after message")
