"""Tests of the multi-scalar multiplication used by batch verification."""

import random
from types import ModuleType

import pytest

from caplin.crypto import _arkworks, _blst
from caplin.crypto._msm import MIN_POINTS, multi_scalar_mul

BACKENDS = [_blst, _arkworks]


def naive_sum(backend: ModuleType, points: list, scalars: list[int], group: str):  # type: ignore[no-untyped-def]
    multiply = getattr(backend, f"{group}_mul")
    total = getattr(backend, f"{group}_identity")()
    for point, scalar in zip(points, scalars, strict=True):
        total = total + multiply(point, scalar)
    return total


def make_points(backend: ModuleType, group: str, count: int) -> list:  # type: ignore[type-arg]
    if group == "g1":
        return [backend.g1_mul(backend.g1_generator(), 3 * i + 2) for i in range(count)]
    return [backend.hash_to_g2(i.to_bytes(4, "little"), b"TEST") for i in range(count)]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.NAME)
@pytest.mark.parametrize("group", ["g1", "g2"])
@pytest.mark.parametrize("count", [0, 1, MIN_POINTS - 1, MIN_POINTS, 33])
def test_multi_mul_matches_naive_sum(backend: ModuleType, group: str, count: int) -> None:
    rng = random.Random(count)
    points = make_points(backend, group, count)
    scalars = [rng.getrandbits(64) for _ in range(count)]
    multi_mul = getattr(backend, f"{group}_multi_mul")
    assert multi_mul(points, scalars) == naive_sum(backend, points, scalars, group)


def test_bucket_method_edge_scalars() -> None:
    points = make_points(_blst, "g2", 10)
    identity = _blst.g2_identity()
    for scalars in (
        [0] * len(points),
        [1] * len(points),
        [(1 << 64) - 1] * len(points),
        [0, 1, 2, 15, 16, 17, 255, 256, 1 << 63, (1 << 64) - 1],
    ):
        expected = naive_sum(_blst, points, scalars, "g2")
        assert multi_scalar_mul(points, scalars, identity, _blst.g2_mul) == expected
