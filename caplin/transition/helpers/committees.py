"""Shuffling, active validator sets, committees and seeds.

`get_active_validator_indices` and the per-epoch shuffling are cached (see
`caplin.transition.caches`): committees of one epoch come from one shuffle
of the active set instead of one `compute_shuffled_index` per member.
"""

from typing import Any

import numpy as np

from caplin.config.constants import DOMAIN_BEACON_ATTESTER
from caplin.crypto.hash import sha256
from caplin.errors import require
from caplin.transition.caches import active_indices_cache, shuffling_cache, validators_key
from caplin.transition.helpers.math import bytes_to_uint64, uint_to_bytes
from caplin.transition.helpers.misc import compute_epoch_at_slot
from caplin.transition.helpers.registry import validator_table

try:  # TODO(shared): drop the stand-ins below once caplin.shuffling has landed everywhere
    from caplin.shuffling import compute_shuffled_index as _shared_shuffled_index
    from caplin.shuffling import shuffle_list as _shared_shuffle_list
except ImportError:  # pragma: no cover - depends on another module's progress
    _shared_shuffled_index = None
    _shared_shuffle_list = None


def get_current_epoch(spec: Any, state: Any) -> int:
    return int(state.slot) // spec.SLOTS_PER_EPOCH


def get_previous_epoch(spec: Any, state: Any) -> int:
    """Return the previous epoch, or the genesis epoch while in it."""
    current_epoch = get_current_epoch(spec, state)
    return current_epoch - 1 if current_epoch > 0 else 0


def get_randao_mix(spec: Any, state: Any, epoch: int) -> bytes:
    return bytes(state.randao_mixes[int(epoch) % spec.EPOCHS_PER_HISTORICAL_VECTOR])


def get_seed(spec: Any, state: Any, epoch: int, domain_type: bytes) -> bytes:
    """Return the seed of `epoch` for `domain_type`, from the mix MIN_SEED_LOOKAHEAD + 1 back."""
    # Adding EPOCHS_PER_HISTORICAL_VECTOR first keeps the index non-negative near genesis.
    mix_epoch = int(epoch) + spec.EPOCHS_PER_HISTORICAL_VECTOR - spec.MIN_SEED_LOOKAHEAD - 1
    mix = get_randao_mix(spec, state, mix_epoch)
    return sha256(bytes(domain_type) + uint_to_bytes(epoch) + mix)


def get_active_validator_indices(spec: Any, state: Any, epoch: int) -> tuple[int, ...]:
    """Return the indices of validators active at `epoch`, in increasing order."""
    epoch = int(epoch)
    key = (validators_key(state), epoch)

    def compute() -> tuple[int, ...]:
        mask = validator_table(state).active_mask(epoch)
        return tuple(np.flatnonzero(mask).tolist())

    return active_indices_cache.get_or_compute(key, compute)


def get_committee_count_per_slot(spec: Any, state: Any, epoch: int) -> int:
    active_count = len(get_active_validator_indices(spec, state, epoch))
    per_slot = active_count // spec.SLOTS_PER_EPOCH // spec.TARGET_COMMITTEE_SIZE
    return max(1, min(spec.MAX_COMMITTEES_PER_SLOT, per_slot))


def compute_shuffled_index(spec: Any, index: int, index_count: int, seed: bytes) -> int:
    """Return the position that `index` moves to under the swap-or-not shuffle of `seed`."""
    if not 0 <= index < index_count:
        raise ValueError(f"compute_shuffled_index: index {index} not below count {index_count}")
    rounds = spec.SHUFFLE_ROUND_COUNT
    if _shared_shuffled_index is not None:
        return int(_shared_shuffled_index(index, index_count, bytes(seed), rounds))
    return _shuffled_index(index, index_count, bytes(seed), rounds)


def _shuffled_index(index: int, index_count: int, seed: bytes, rounds: int) -> int:
    for current_round in range(rounds):
        round_byte = bytes((current_round,))
        pivot = bytes_to_uint64(sha256(seed + round_byte)[:8]) % index_count
        flip = (pivot + index_count - index) % index_count
        position = max(index, flip)
        source = sha256(seed + round_byte + uint_to_bytes(position // 256, 4))
        if (source[(position % 256) // 8] >> (position % 8)) & 1:
            index = flip
    return index


def shuffle_indices(spec: Any, indices: tuple[int, ...], seed: bytes) -> tuple[int, ...]:
    """Return `indices` permuted so that item i is `indices[compute_shuffled_index(i)]`."""
    if not indices:
        return ()
    rounds = spec.SHUFFLE_ROUND_COUNT
    if _shared_shuffle_list is not None:
        return tuple(int(i) for i in _shared_shuffle_list(list(indices), bytes(seed), rounds))
    permutation = _shuffled_permutation(len(indices), bytes(seed), rounds)
    source = np.asarray(indices, dtype=np.int64)
    return tuple(source[permutation].tolist())


def compute_shuffled_permutation(spec: Any, index_count: int, seed: bytes) -> list[int]:
    """Return p with p[i] == compute_shuffled_index(i, index_count, seed), for all i at once."""
    if index_count == 0:
        return []
    return _shuffled_permutation(index_count, bytes(seed), spec.SHUFFLE_ROUND_COUNT).tolist()


def _shuffled_permutation(count: int, seed: bytes, rounds: int) -> np.ndarray:
    current = np.arange(count, dtype=np.int64)
    bucket_count = (count + 255) // 256
    for current_round in range(rounds):
        round_byte = bytes((current_round,))
        pivot = bytes_to_uint64(sha256(seed + round_byte)[:8]) % count
        sources = b"".join(
            sha256(seed + round_byte + uint_to_bytes(bucket, 4)) for bucket in range(bucket_count)
        )
        source_bytes = np.frombuffer(sources, dtype=np.uint8)
        flip = (pivot + count - current) % count
        position = np.maximum(current, flip)
        bits = (source_bytes[position >> 3] >> (position & 7).astype(np.uint8)) & 1
        current = np.where(bits == 1, flip, current)
    return current


def get_shuffling(spec: Any, state: Any, epoch: int) -> tuple[int, ...]:
    """Return the active validators of `epoch` in committee order (cached per seed and registry)."""
    seed = get_seed(spec, state, epoch, DOMAIN_BEACON_ATTESTER)
    key = (validators_key(state), int(epoch), seed)

    def compute() -> tuple[int, ...]:
        return shuffle_indices(spec, get_active_validator_indices(spec, state, epoch), seed)

    return shuffling_cache.get_or_compute(key, compute)


def compute_committee(
    spec: Any, indices: tuple[int, ...], seed: bytes, index: int, count: int
) -> list[int]:
    """Return committee `index` of `count` drawn from `indices` with `seed`.

    The shuffle of `indices` is cached by seed and content, so drawing every committee of
    one shuffle costs one shuffle.
    """
    indices = tuple(int(i) for i in indices)
    start = len(indices) * index // count
    end = len(indices) * (index + 1) // count
    key = ("compute_committee", bytes(seed), len(indices), hash(indices))
    shuffled = shuffling_cache.get_or_compute(
        key, lambda: shuffle_indices(spec, indices, bytes(seed))
    )
    return list(shuffled[start:end])


def get_beacon_committee(spec: Any, state: Any, slot: int, index: int) -> list[int]:
    """Return the validator indices of committee `index` at `slot`, in committee order."""
    slot, index = int(slot), int(index)
    epoch = compute_epoch_at_slot(spec, slot)
    committees_per_slot = get_committee_count_per_slot(spec, state, epoch)
    require(
        index < committees_per_slot,
        "committee_index",
        "committee index out of range",
        index=index,
        committees_per_slot=committees_per_slot,
    )
    shuffling = get_shuffling(spec, state, epoch)
    position = (slot % spec.SLOTS_PER_EPOCH) * committees_per_slot + index
    total = committees_per_slot * spec.SLOTS_PER_EPOCH
    start = len(shuffling) * position // total
    end = len(shuffling) * (position + 1) // total
    return list(shuffling[start:end])
