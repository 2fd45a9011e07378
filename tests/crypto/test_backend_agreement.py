"""The two BLS backends must accept exactly the same encodings and decode them alike.

A disagreement would split nodes running different backends, so random and
edge-case byte strings are decoded by both and the outcomes compared.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from caplin.crypto import _arkworks, _blst

# Base field modulus of BLS12-381, the bound every x coordinate must stay below.
FIELD_MODULUS = int(
    "1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f624"
    "1eabfffeb153ffffb9feffffffffaaab",
    16,
)


def decode(backend, data: bytes, group: str):  # type: ignore[no-untyped-def]
    try:
        point = getattr(backend, f"{group}_from_bytes")(data)
    except ValueError:
        return None
    return getattr(backend, f"{group}_to_bytes")(point)


def assert_agree(data: bytes, group: str) -> None:
    blst_result = decode(_blst, data, group)
    arkworks_result = decode(_arkworks, data, group)
    assert blst_result == arkworks_result, data.hex()


def with_flags(body: bytes, flags: int) -> bytes:
    return bytes([(body[0] & 0x1F) | flags]) + body[1:]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=48, max_size=48), st.sampled_from(range(0, 256, 32)))
def test_g1_random_encodings(body: bytes, flags: int) -> None:
    assert_agree(with_flags(body, flags), "g1")


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=96, max_size=96), st.sampled_from(range(0, 256, 32)))
def test_g2_random_encodings(body: bytes, flags: int) -> None:
    assert_agree(with_flags(body, flags), "g2")


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=2**64), st.booleans())
def test_valid_points_round_trip(scalar: int, flip_sign: bool) -> None:
    g1 = _blst.g1_to_bytes(_blst.g1_mul(_blst.g1_generator(), scalar))
    g2 = _blst.g2_to_bytes(_blst.g2_mul(_blst.hash_to_g2(b"agree", b"TEST"), scalar))
    for data, group in ((g1, "g1"), (g2, "g2")):
        if flip_sign:
            data = bytes([data[0] ^ 0x20]) + data[1:]
        assert decode(_blst, data, group) == data
        assert_agree(data, group)


def test_edge_encodings() -> None:
    cases = []
    for flags in range(0, 256, 32):
        for x in (0, 1, FIELD_MODULUS - 1, FIELD_MODULUS, FIELD_MODULUS + 1, 2**381 - 1):
            cases.append((with_flags(x.to_bytes(48, "big"), flags), "g1"))
            for high in (0, x):
                g2_x = high.to_bytes(48, "big") + x.to_bytes(48, "big")
                cases.append((with_flags(g2_x, flags), "g2"))
    for length in (0, 47, 49, 95, 97):
        cases.append((b"\xc0" + bytes(length - 1) if length else b"", "g1"))
        cases.append((b"\xc0" + bytes(length - 1) if length else b"", "g2"))
    for data, group in cases:
        assert_agree(data, group)
