"""Multi-scalar multiplication by the bucket method, over any group with `+`.

pyblst multiplies by a full 255-bit scalar whatever the scalar's size (an 8-bit
and a 255-bit scalar took the same time here). For the 64-bit weights of batch
verification, a bucket method that shares its doublings across all points
costs less than one native multiplication per point.
"""

from collections.abc import Callable, Sequence
from typing import Any

# Bits consumed per window: 4 keeps the 15 buckets' summing cost below the
# per-point additions for batches of a few dozen points.
_WINDOW_BITS = 4

# Below this many points, one native multiplication each is faster: with pyblst the
# two cost the same at about 3 points, in G1 and in G2 alike.
MIN_POINTS = 4


def multi_scalar_mul(
    points: Sequence[Any],
    scalars: Sequence[int],
    identity: Any,
    multiply: Callable[[Any, int], Any],
) -> Any:
    """Return the sum of scalars[i] * points[i]; scalars must be non-negative ints.

    `multiply(point, scalar)` is the group's native multiplication, used when
    there are fewer than `MIN_POINTS` points.
    """
    if len(points) < MIN_POINTS:
        total = identity
        for point, scalar in zip(points, scalars, strict=True):
            total = total + multiply(point, scalar)
        return total

    bits = max(scalars).bit_length()
    mask = (1 << _WINDOW_BITS) - 1
    result = None
    for shift in reversed(range(0, bits, _WINDOW_BITS)):
        if result is not None:
            for _ in range(_WINDOW_BITS):
                result = result + result

        buckets: list[Any] = [None] * (mask + 1)
        for point, scalar in zip(points, scalars, strict=True):
            digit = (scalar >> shift) & mask
            if digit:
                bucket = buckets[digit]
                buckets[digit] = point if bucket is None else bucket + point

        # sum of digit * bucket[digit], as a running sum from the top bucket down.
        running = None
        window_sum = None
        for digit in range(mask, 0, -1):
            bucket = buckets[digit]
            if bucket is not None:
                running = bucket if running is None else running + bucket
            if running is not None:
                window_sum = running if window_sum is None else window_sum + running
        if window_sum is not None:
            result = window_sum if result is None else result + window_sum
    return identity if result is None else result
