"""The codec's small-value fast paths agree with the general LEB128/zigzag definition."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.codec import MAX_INT_BITS, Reader, Writer
from runtime.errors import DecodeError


def leb128(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zigzag(v: int) -> int:
    return v << 1 if v >= 0 else ((-v) << 1) - 1


EDGES = [0, 1, -1, 63, -64, 64, -65, 8191, -8192, 8192, -8193, 1 << 40, -(1 << 40)]
INTS = st.one_of(st.sampled_from(EDGES), st.integers(-(1 << 20), 1 << 20), st.integers(-(1 << 200), 1 << 200))


@settings(max_examples=500, deadline=None)
@given(INTS, st.binary(max_size=3))
def test_sint_matches_the_definition_and_round_trips(v: int, tail: bytes) -> None:
    w = Writer()
    w.sint(v)
    data = w.getvalue()
    assert data == leb128(zigzag(v))
    r = Reader(data + tail)
    assert r.sint() == v
    assert r.rest() == tail


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 1 << 64), st.binary(max_size=3))
def test_uvarint_reads_what_it_wrote(n: int, tail: bytes) -> None:
    r = Reader(leb128(n) + tail)
    assert r.uvarint() == n
    assert r.rest() == tail


@pytest.mark.parametrize("data", [b"\x80\x00", b"\x81\x80\x00", b"\x80", b"\xff\xff"])
def test_non_canonical_and_truncated_varints_are_rejected(data: bytes) -> None:
    with pytest.raises(DecodeError):
        Reader(data).uvarint()


def test_int_field_size_limit() -> None:
    Writer().sint(1 << (MAX_INT_BITS - 1))
    with pytest.raises(ValueError):
        Writer().sint(1 << MAX_INT_BITS)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.integers(-1000, 1000), max_size=6))
def test_maps_encode_canonically_and_round_trip(m: dict[str, int]) -> None:
    def enc(d: dict[str, int]) -> bytes:
        w = Writer()
        w.mapping(d, Writer.text, Writer.sint)
        return w.getvalue()

    data = enc(m)
    # The same map built in another order encodes to the same bytes.
    assert enc(dict(reversed(list(m.items())))) == data
    assert Reader(data).mapping(Reader.text, Reader.sint) == m


def test_maps_with_repeated_or_unordered_keys_are_rejected() -> None:
    def entry(k: int, v: int) -> bytes:
        w = Writer()
        w.sint(k)
        w.sint(v)
        return w.getvalue()

    for body in (entry(1, 5) + entry(1, 6), entry(2, 5) + entry(1, 6)):
        with pytest.raises(DecodeError, match="canonical order"):
            Reader(b"\x02" + body).mapping(Reader.sint, Reader.sint)
    with pytest.raises(DecodeError):
        Reader(b"\x05" + entry(1, 1)).mapping(Reader.sint, Reader.sint)  # count beyond the data


def test_fixed_size_reads_take_exactly_their_bytes_or_say_what_was_truncated() -> None:
    from runtime.codec import Bytes32

    r = Reader(bytes(range(40)))
    assert r.fixed(4) == bytes(range(4))
    b = r.fixed_bytes(Bytes32)
    assert type(b) is Bytes32 and b == bytes(range(4, 36))
    with pytest.raises(DecodeError, match=r"truncated bytes\[32\]: need 32 bytes at offset 36, have 4"):
        r.fixed_bytes(Bytes32)
    with pytest.raises(DecodeError, match=r"truncated bytes\[5\]"):
        r.fixed(5)
    assert r.fixed(4) == bytes(range(36, 40))
    r.finish()
