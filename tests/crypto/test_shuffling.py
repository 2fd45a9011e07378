"""Tests of caplin.shuffling: the whole-list shuffle against the per-index spec function."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from caplin.errors import CryptoError
from caplin.shuffling import compute_shuffled_index, compute_shuffled_indices, shuffle_list

SEED = bytes(range(32))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 64, 255, 256, 257, 1000])
@pytest.mark.parametrize("rounds", [0, 1, 10, 90])
def test_shuffle_list_matches_per_index(count: int, rounds: int) -> None:
    values = [1000 + 7 * i for i in range(count)]
    expected = [values[compute_shuffled_index(i, count, SEED, rounds)] for i in range(count)]
    assert shuffle_list(values, SEED, rounds) == expected
    assert compute_shuffled_indices(count, SEED, rounds).tolist() == [
        compute_shuffled_index(i, count, SEED, rounds) for i in range(count)
    ]


def test_shuffle_list_is_permutation() -> None:
    shuffled = shuffle_list(range(5000), SEED, 90)
    assert sorted(shuffled) == list(range(5000))
    assert shuffled != list(range(5000))


def test_shuffle_list_accepts_numpy_and_large_values() -> None:
    values = np.arange(300, dtype=np.int64) + (1 << 40)
    expected = [int(values[compute_shuffled_index(i, 300, SEED, 10)]) for i in range(300)]
    assert shuffle_list(values, SEED, 10) == expected
    assert shuffle_list(values.tolist(), SEED, 10) == expected


def test_seed_changes_shuffle() -> None:
    other_seed = bytes(reversed(range(32)))
    assert shuffle_list(range(100), SEED, 10) != shuffle_list(range(100), other_seed, 10)


def test_invalid_arguments_raise() -> None:
    with pytest.raises(CryptoError):
        compute_shuffled_index(5, 5, SEED, 10)
    with pytest.raises(CryptoError):
        compute_shuffled_index(-1, 5, SEED, 10)
    with pytest.raises(CryptoError):
        compute_shuffled_index(0, 5, SEED[:31], 10)
    with pytest.raises(CryptoError):
        shuffle_list([1, 2, 3], SEED[:31], 10)
    with pytest.raises(CryptoError):
        shuffle_list([1, 2, 3], SEED, 257)


def test_accepts_ssz_values() -> None:
    from remerkleable.basic import uint64
    from remerkleable.byte_arrays import Bytes32

    seed = Bytes32(SEED)
    values = [uint64(i) for i in range(20)]
    expected = [compute_shuffled_index(i, 20, SEED, 10) for i in range(20)]
    assert shuffle_list(values, seed, uint64(10)) == expected
    assert [compute_shuffled_index(uint64(i), uint64(20), seed, 10) for i in range(20)] == expected


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=700),
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=0, max_value=12),
)
def test_shuffle_matches_per_index_random(count: int, seed: bytes, rounds: int) -> None:
    expected = [compute_shuffled_index(i, count, seed, rounds) for i in range(count)]
    assert compute_shuffled_indices(count, seed, rounds).tolist() == expected
