"""Integer and byte helpers of the spec's math section (no chain config needed)."""

from collections.abc import Iterable
from math import isqrt

from caplin.config.constants import UINT64_MAX

_UINT64_MAX_SQRT = 4294967295


def integer_squareroot(n: int) -> int:
    """Return the largest integer `x` with `x * x <= n`, for a uint64 `n`."""
    if n < 0 or n > UINT64_MAX:
        raise ValueError(f"integer_squareroot: {n} is not a uint64")
    # The spec returns UINT64_MAX_SQRT for UINT64_MAX, which isqrt also gives.
    if n == UINT64_MAX:
        return _UINT64_MAX_SQRT
    return isqrt(n)


def xor(bytes_1: bytes, bytes_2: bytes) -> bytes:
    """Return the bytewise exclusive or of two equal-length byte strings."""
    return bytes(a ^ b for a, b in zip(bytes_1, bytes_2, strict=True))


def uint_to_bytes(n: int, length: int = 8) -> bytes:
    """Serialize `n` as a little-endian unsigned integer of `length` bytes (uint64 by default)."""
    return int(n).to_bytes(length, "little")


def bytes_to_uint64(data: bytes) -> int:
    """Return the little-endian unsigned integer encoded by `data` (at most 8 bytes)."""
    return int.from_bytes(data, "little")


def saturating_sub(a: int, b: int) -> int:
    """Return `a - b`, or 0 when `b` exceeds `a`."""
    return a - b if a > b else 0


def floorlog2(x: int) -> int:
    """Return floor(log2(x)) for a positive integer."""
    if x < 1:
        raise ValueError(f"floorlog2: {x} is not positive")
    return x.bit_length() - 1


def ceillog2(x: int) -> int:
    """Return ceil(log2(x)) for a positive integer."""
    if x < 1:
        raise ValueError(f"ceillog2: {x} is not positive")
    return (x - 1).bit_length()


def get_set_bit_count(bits: Iterable[object]) -> int:
    """Return how many bits of a bitfield are set."""
    return sum(1 for bit in bits if bit)


def has_flag(flags: int, flag_index: int) -> bool:
    """Return True when bit `flag_index` of the participation `flags` is set (altair)."""
    return (int(flags) >> flag_index) & 1 == 1


def add_flag(flags: int, flag_index: int) -> int:
    """Return the participation `flags` with bit `flag_index` set (altair)."""
    return int(flags) | (1 << flag_index)
