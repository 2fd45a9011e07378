"""BLS12-381 group operations on py-arkworks-bls12381, the alternative BLS backend.

arkworks checks the curve equation and subgroup membership on decompression but
accepts some non-canonical encodings of the point at infinity (a set infinity
flag with non-zero x bits, or the sign flag set on infinity). `_check_encoding`
rejects those first, so both backends accept exactly the same byte strings.
Every function raises `ValueError` on a malformed point.
"""

from collections.abc import Sequence

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

NAME = "arkworks"

_G1_GENERATOR = G1Point()
_G1_IDENTITY = G1Point.identity()
_G2_IDENTITY = G2Point.identity()

# Flag bits in the first byte of a compressed point (the ZCash serialization format).
_COMPRESSION_FLAG = 0x80
_INFINITY_FLAG = 0x40
_SIGN_FLAG = 0x20


def _check_encoding(data: bytes, length: int) -> None:
    if len(data) != length:
        raise ValueError(f"compressed point must be {length} bytes, got {len(data)}")
    flags = data[0]
    if not flags & _COMPRESSION_FLAG:
        raise ValueError("compression flag is not set")
    if flags & _INFINITY_FLAG:
        if flags & _SIGN_FLAG or data[0] & 0x1F or any(data[1:]):
            raise ValueError("point at infinity is not encoded canonically")


def g1_from_bytes(data: bytes) -> G1Point:
    _check_encoding(data, 48)
    return G1Point.from_compressed_bytes(data)


def g2_from_bytes(data: bytes) -> G2Point:
    _check_encoding(data, 96)
    return G2Point.from_compressed_bytes(data)


def g1_to_bytes(point: G1Point) -> bytes:
    return bytes(point.to_compressed_bytes())


def g2_to_bytes(point: G2Point) -> bytes:
    return bytes(point.to_compressed_bytes())


def g1_generator() -> G1Point:
    return _G1_GENERATOR


def g1_identity() -> G1Point:
    return _G1_IDENTITY


def g2_identity() -> G2Point:
    return _G2_IDENTITY


def g1_mul(point: G1Point, scalar: int) -> G1Point:
    return point * Scalar(scalar)


def g2_mul(point: G2Point, scalar: int) -> G2Point:
    return point * Scalar(scalar)


def g1_multi_mul(points: Sequence[G1Point], scalars: Sequence[int]) -> G1Point:
    """Return the sum of scalars[i] * points[i]; the points must be validated already."""
    return G1Point.multiexp_unchecked(list(points), [Scalar(scalar) for scalar in scalars])


def g2_multi_mul(points: Sequence[G2Point], scalars: Sequence[int]) -> G2Point:
    """Return the sum of scalars[i] * points[i]; the points must be validated already."""
    return G2Point.multiexp_unchecked(list(points), [Scalar(scalar) for scalar in scalars])


def hash_to_g2(message: bytes, dst: bytes) -> G2Point:
    return G2Point.hash_to_curve(message, dst)


def pairings_equal(lhs: list[tuple[G1Point, G2Point]], rhs: list[tuple[G1Point, G2Point]]) -> bool:
    """Return whether the product of e(P, Q) over `lhs` equals that over `rhs`.

    The right side is moved over by negating its G1 points, so one multi-pairing
    checks that the whole product is the identity of GT.
    """
    g1s = [g1 for g1, _ in lhs] + [-g1 for g1, _ in rhs]
    g2s = [g2 for _, g2 in lhs] + [g2 for _, g2 in rhs]
    if not g1s:
        return True
    return bool(GT.pairing_check(g1s, g2s))
