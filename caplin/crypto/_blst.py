"""BLS12-381 group operations on pyblst (the blst library), the default BLS backend.

blst checks the encoding, the curve equation and subgroup membership when it
decompresses a point, so `g1_from_bytes` and `g2_from_bytes` need no extra
checks. Every function raises `ValueError` on a malformed point.
"""

from collections.abc import Sequence

from pyblst import BlstFP12Element, BlstP1Element, BlstP2Element, final_verify, miller_loop

from caplin.crypto._msm import multi_scalar_mul

NAME = "blst"

_G1_GENERATOR = BlstP1Element.uncompress(
    bytes.fromhex(
        "97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905"
        "a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
    )
)
_G1_IDENTITY = BlstP1Element()
_G2_IDENTITY = BlstP2Element()


def g1_from_bytes(data: bytes) -> BlstP1Element:
    return BlstP1Element.uncompress(data)


def g2_from_bytes(data: bytes) -> BlstP2Element:
    return BlstP2Element.uncompress(data)


def g1_to_bytes(point: BlstP1Element) -> bytes:
    return bytes(point.compress())


def g2_to_bytes(point: BlstP2Element) -> bytes:
    return bytes(point.compress())


def g1_generator() -> BlstP1Element:
    return _G1_GENERATOR


def g1_identity() -> BlstP1Element:
    return _G1_IDENTITY


def g2_identity() -> BlstP2Element:
    return _G2_IDENTITY


def g1_mul(point: BlstP1Element, scalar: int) -> BlstP1Element:
    return point.scalar_mul(scalar)


def g2_mul(point: BlstP2Element, scalar: int) -> BlstP2Element:
    return point.scalar_mul(scalar)


def g1_multi_mul(points: Sequence[BlstP1Element], scalars: Sequence[int]) -> BlstP1Element:
    """Return the sum of scalars[i] * points[i] (the bucket method, see `_msm`)."""
    return multi_scalar_mul(points, scalars, _G1_IDENTITY, g1_mul)


def g2_multi_mul(points: Sequence[BlstP2Element], scalars: Sequence[int]) -> BlstP2Element:
    """Return the sum of scalars[i] * points[i] (the bucket method, see `_msm`)."""
    return multi_scalar_mul(points, scalars, _G2_IDENTITY, g2_mul)


def hash_to_g2(message: bytes, dst: bytes) -> BlstP2Element:
    return BlstP2Element.hash_to_group(message, dst)


def pairings_equal(
    lhs: list[tuple[BlstP1Element, BlstP2Element]],
    rhs: list[tuple[BlstP1Element, BlstP2Element]],
) -> bool:
    """Return whether the product of e(P, Q) over `lhs` equals that over `rhs`.

    Each side multiplies its Miller loops, and one final exponentiation compares them.
    """
    return bool(final_verify(_miller_product(lhs), _miller_product(rhs)))


def _miller_product(pairs: list[tuple[BlstP1Element, BlstP2Element]]) -> BlstFP12Element:
    if not pairs:
        return miller_loop(_G1_IDENTITY, _G2_IDENTITY)
    product = miller_loop(*pairs[0])
    for g1, g2 in pairs[1:]:
        product = product * miller_loop(g1, g2)
    return product
