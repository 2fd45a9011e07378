"""Proposer selection: balance-weighted sampling, per slot and, from fulu, per lookahead."""

from functools import lru_cache
from typing import Any

import numpy as np

from caplin.config.constants import DOMAIN_BEACON_PROPOSER
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.caches import proposer_cache, validators_key
from caplin.transition.helpers.committees import (
    compute_shuffled_permutation,
    get_active_validator_indices,
    get_current_epoch,
    get_seed,
)
from caplin.transition.helpers.math import bytes_to_uint64, uint_to_bytes
from caplin.transition.helpers.misc import compute_start_slot_at_epoch
from caplin.transition.helpers.registry import validator_table


def compute_proposer_index(spec: Any, state: Any, indices: tuple[int, ...], seed: bytes) -> int:
    """Return an index of `indices` sampled with probability proportional to effective balance.

    Electra draws 16-bit random values against MAX_EFFECTIVE_BALANCE_ELECTRA; earlier forks
    draw one random byte per candidate against MAX_EFFECTIVE_BALANCE.
    """
    if not indices:
        raise ValueError("compute_proposer_index: no active validators")
    electra = spec.fork_of(state) >= Fork.ELECTRA
    effective_balance = validator_table(state).effective_balance
    return sample_by_effective_balance(spec, indices, bytes(seed), effective_balance, electra, 1)[0]


def sample_by_effective_balance(
    spec: Any,
    indices: tuple[int, ...],
    seed: bytes,
    effective_balance: Any,
    electra: bool,
    wanted: int,
) -> list[int]:
    """Draw `wanted` indices (repeats allowed) by the spec's accept-reject loop on balances.

    Candidate i is `indices[compute_shuffled_index(i % len(indices))]`, accepted when its
    effective balance beats a random fraction of the maximum. Candidates are shuffled in
    batches, which gives the same draws as the spec's one-at-a-time loop.
    """
    total = len(indices)
    if electra:
        max_random_value, max_balance = 2**16 - 1, spec.MAX_EFFECTIVE_BALANCE_ELECTRA
    else:
        max_random_value, max_balance = 2**8 - 1, spec.MAX_EFFECTIVE_BALANCE
    permutation = None
    if total <= _PERMUTATION_THRESHOLD or wanted > 1:
        permutation = np.asarray(compute_shuffled_permutation(spec, total, seed), dtype=np.int64)

    chosen: list[int] = []
    start = 0
    while len(chosen) < wanted:
        stop = start + _BATCH_SIZE
        offsets = np.arange(start, stop, dtype=np.int64) % total
        if permutation is not None:
            positions = permutation[offsets].tolist()
        else:
            positions = _shuffle_positions(offsets, total, seed, spec.SHUFFLE_ROUND_COUNT)
        random_values = _random_values(seed, start, stop, electra)
        for position, random_value in zip(positions, random_values, strict=True):
            candidate = indices[position]
            if int(effective_balance[candidate]) * max_random_value >= max_balance * random_value:
                chosen.append(candidate)
                if len(chosen) == wanted:
                    break
        start = stop
    return chosen


# Below this many candidates one whole-list shuffle is cheaper than shuffling index by index.
_PERMUTATION_THRESHOLD = 8192
# Candidates shuffled together; electra accepts about 1 in 64 candidates at 32 ETH.
_BATCH_SIZE = 64


def _random_values(seed: bytes, start: int, stop: int, electra: bool) -> list[int]:
    """Return the random value of candidates start..stop-1 (stop - start a multiple of 32).

    Electra reads 16-bit little-endian values, 16 per hash; earlier forks one byte, 32 per hash.
    """
    if electra:
        values = []
        for block in range(start // 16, stop // 16):
            digest = sha256(seed + uint_to_bytes(block))
            values.extend(int.from_bytes(digest[i : i + 2], "little") for i in range(0, 32, 2))
        return values
    return [
        byte
        for block in range(start // 32, stop // 32)
        for byte in sha256(seed + uint_to_bytes(block))
    ]


@lru_cache(maxsize=256)
def _pivots(seed: bytes, count: int, rounds: int) -> tuple[int, ...]:
    return tuple(
        bytes_to_uint64(sha256(seed + bytes((current_round,)))[:8]) % count
        for current_round in range(rounds)
    )


def _shuffle_positions(indices: np.ndarray, count: int, seed: bytes, rounds: int) -> list[int]:
    """Return compute_shuffled_index(i, count, seed) for each i of `indices`, round by round."""
    current = indices.astype(np.int64)
    for current_round, pivot in enumerate(_pivots(seed, count, rounds)):
        prefix = seed + bytes((current_round,))
        flip = (pivot + count - current) % count
        position = np.maximum(current, flip)
        sources = {
            bucket: sha256(prefix + uint_to_bytes(bucket, 4))
            for bucket in set((position >> 8).tolist())
        }
        bits = [(sources[p >> 8][(p & 255) >> 3] >> (p & 7)) & 1 for p in position.tolist()]
        current = np.where(np.asarray(bits, dtype=bool), flip, current)
    return current.tolist()


def compute_proposer_indices(
    spec: Any, state: Any, epoch: int, seed: bytes, indices: tuple[int, ...]
) -> list[int]:
    """Return the proposer of every slot of `epoch` (fulu)."""
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    return [
        compute_proposer_index(spec, state, indices, sha256(bytes(seed) + uint_to_bytes(slot)))
        for slot in range(start_slot, start_slot + spec.SLOTS_PER_EPOCH)
    ]


def get_beacon_proposer_indices(spec: Any, state: Any, epoch: int) -> list[int]:
    """Return the proposer of every slot of `epoch` from the state's registry and mixes (fulu)."""
    indices = get_active_validator_indices(spec, state, epoch)
    seed = get_seed(spec, state, epoch, DOMAIN_BEACON_PROPOSER)
    return compute_proposer_indices(spec, state, epoch, seed, indices)


def get_beacon_proposer_index(spec: Any, state: Any) -> int:
    """Return the proposer index of the state's current slot.

    From fulu the state stores its proposers in `proposer_lookahead`; earlier forks sample
    them from the current epoch's seed (cached per registry root and slot seed).
    """
    if spec.fork_of(state) >= Fork.FULU:
        return int(state.proposer_lookahead[int(state.slot) % spec.SLOTS_PER_EPOCH])
    epoch = get_current_epoch(spec, state)
    seed = sha256(get_seed(spec, state, epoch, DOMAIN_BEACON_PROPOSER) + uint_to_bytes(state.slot))
    electra = spec.fork_of(state) >= Fork.ELECTRA
    key = (validators_key(state), int(state.slot), seed, electra)

    def compute() -> int:
        indices = get_active_validator_indices(spec, state, epoch)
        return compute_proposer_index(spec, state, indices, seed)

    return proposer_cache.get_or_compute(key, compute)


def initialize_proposer_lookahead(spec: Any, state: Any) -> list[int]:
    """Return the proposers of the current epoch and the MIN_SEED_LOOKAHEAD epochs after it.

    Fulu stores this list in `state.proposer_lookahead` at genesis and at the fork.
    """
    current_epoch = get_current_epoch(spec, state)
    lookahead: list[int] = []
    for epoch in range(current_epoch, current_epoch + spec.MIN_SEED_LOOKAHEAD + 1):
        lookahead.extend(get_beacon_proposer_indices(spec, state, epoch))
    return lookahead
