"""The swap-or-not shuffle of the consensus specs (committee and proposer selection).

`compute_shuffled_index` is the spec function for one index. `shuffle_list`
shuffles a whole list at once: it runs every round over all positions as numpy
array slices, so each round hashes each 256-position chunk once instead of once
per index.
"""

from collections.abc import Sequence
from functools import lru_cache
from hashlib import sha256
from typing import Any

import numpy as np

from caplin.errors import CryptoError

# Each round hashes seed || round || chunk and uses one bit per position, 256 per hash.
_POSITIONS_PER_HASH = 256


def _check_arguments(count: int, seed: bytes, rounds: int) -> None:
    if len(seed) != 32:
        raise CryptoError("shuffling seed must be 32 bytes", length=len(seed))
    if not 0 <= rounds <= 256:
        raise CryptoError("shuffle round count must be in [0, 256]", rounds=rounds)
    # The chunk number is hashed as a uint32, and each chunk covers 256 positions.
    if count > 1 << 40:
        raise CryptoError("cannot shuffle more than 2**40 indices", count=count)


@lru_cache(maxsize=256)
def _pivots(seed: bytes, count: int, rounds: int) -> tuple[int, ...]:
    """Return the pivot of every round.

    The result is cached because proposer and sync-committee selection call
    `compute_shuffled_index` many times with one seed and count.
    """
    return tuple(
        int.from_bytes(sha256(seed + bytes([current_round])).digest()[:8], "little") % count
        for current_round in range(rounds)
    )


def compute_shuffled_index(index: int, count: int, seed: bytes, rounds: int) -> int:
    """Return the position that `index` moves to in a shuffle of `count` items.

    Raises:
        CryptoError: `index` is not below `count`, `seed` is not 32 bytes, or
            `rounds` is outside [0, 256].
    """
    # Plain ints: remerkleable's uint64 rejects mixing with int in some operators.
    index, count, rounds, seed = int(index), int(count), int(rounds), bytes(seed)
    _check_arguments(count, seed, rounds)
    if not 0 <= index < count:
        raise CryptoError("index out of range for shuffle", index=index, count=count)

    for current_round, pivot in enumerate(_pivots(seed, count, rounds)):
        round_byte = current_round.to_bytes(1, "little")
        flip = (pivot + count - index) % count
        position = max(index, flip)
        chunk = (position // _POSITIONS_PER_HASH).to_bytes(4, "little")
        source = sha256(seed + round_byte + chunk).digest()
        byte = source[(position % _POSITIONS_PER_HASH) // 8]
        if (byte >> (position % 8)) & 1:
            index = flip
    return index


def compute_shuffled_indices(count: int, seed: bytes, rounds: int) -> np.ndarray:
    """Return `compute_shuffled_index(i, count, seed, rounds)` for every i, as an array.

    Raises:
        CryptoError: `seed` is not 32 bytes or `rounds` is outside [0, 256].
    """
    count = int(count)
    return _shuffle_array(np.arange(count, dtype=_index_dtype(count)), seed, rounds)


def _shuffle_array(values: np.ndarray, seed: bytes, rounds: int) -> np.ndarray:
    """Return `values[compute_shuffled_index(i, len(values), seed, rounds)]` for every i.

    One round maps position i to flip(i) = (pivot - i) mod n when bit max(i, flip(i))
    is set. Applied to the values rather than to the indices, the rounds compose in
    the opposite order, so they run from the last to the first. flip(i) runs
    backwards over [0, pivot] and over (pivot, n), so each round is a few reversed
    slices: no gathers.
    """
    seed, rounds = bytes(seed), int(rounds)
    count = len(values)
    _check_arguments(count, seed, rounds)
    values = values.copy()
    if count <= 1:
        return values

    chunk_suffixes = [chunk.to_bytes(4, "little") for chunk in range(_chunk_count(count))]
    flipped = np.empty_like(values)
    swap = np.empty_like(values)
    pivots = _pivots(seed, count, rounds)
    for current_round in reversed(range(rounds)):
        round_byte = current_round.to_bytes(1, "little")
        pivot = pivots[current_round]
        bits = _round_bits(sha256(seed + round_byte), chunk_suffixes)[:count]

        # flipped[i] = values[flip(i)], and swap[i] = bit of flip(i) for now.
        flipped[: pivot + 1] = values[pivot::-1]
        flipped[pivot + 1 :] = values[:pivot:-1]
        swap[: pivot + 1] = bits[pivot::-1]
        swap[pivot + 1 :] = bits[:pivot:-1]

        # Where i >= flip(i) the deciding bit is that of i itself.
        low_half = (pivot + 1) // 2
        high_half = (pivot + count + 1) // 2
        swap[low_half : pivot + 1] = bits[low_half : pivot + 1]
        swap[high_half:] = bits[high_half:]

        # values = where(swap, flipped, values), branch-free: a random mask makes
        # numpy's masked copy several times slower than three bitwise passes.
        np.negative(swap, out=swap)
        np.bitwise_xor(flipped, values, out=flipped)
        np.bitwise_and(flipped, swap, out=flipped)
        np.bitwise_xor(values, flipped, out=values)
    return values


def _index_dtype(bound: int) -> type:
    # int32 halves the memory traffic of every round; validator indices fit in it.
    return np.int32 if bound < 1 << 31 else np.int64


def _chunk_count(count: int) -> int:
    return (count + _POSITIONS_PER_HASH - 1) // _POSITIONS_PER_HASH


def _round_bits(prefix_hash: Any, chunk_suffixes: list[bytes]) -> np.ndarray:
    """Return the round's bit of every position: bit p is bit p % 8 of byte p // 8."""
    digests = []
    for suffix in chunk_suffixes:
        hasher = prefix_hash.copy()
        hasher.update(suffix)
        digests.append(hasher.digest())
    source = np.frombuffer(b"".join(digests), dtype=np.uint8)
    return np.unpackbits(source, bitorder="little").view(np.bool_)


def shuffle_list(indices: Sequence[int], seed: bytes, rounds: int) -> list[int]:
    """Shuffle `indices`: `result[i] == indices[compute_shuffled_index(i, n, seed, rounds)]`.

    This is the order the spec's committee functions read validator indices in.

    Raises:
        CryptoError: `seed` is not 32 bytes or `rounds` is outside [0, 256].
    """
    if isinstance(indices, np.ndarray):
        source = indices.astype(np.int64, copy=False)
    else:
        source = np.fromiter(indices, dtype=np.int64, count=len(indices))
    if len(source) and 0 <= source.min() and source.max() < 1 << 31:
        source = source.astype(np.int32)
    return _shuffle_array(source, seed, rounds).tolist()  # type: ignore[no-any-return]
