"""Proposer selection: balance-weighted sampling, per slot and, from fulu, per lookahead."""

from typing import Any

from caplin.config.constants import DOMAIN_BEACON_PROPOSER
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.caches import proposer_cache, validators_key
from caplin.transition.helpers.committees import (
    compute_shuffled_index,
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
    """Draw `wanted` indices (repeats allowed) by the spec's accept-reject loop on balances."""
    total = len(indices)
    shuffled_position = _shuffled_position_function(spec, total, seed, wanted)
    if electra:
        max_random_value, max_balance = 2**16 - 1, spec.MAX_EFFECTIVE_BALANCE_ELECTRA
    else:
        max_random_value, max_balance = 2**8 - 1, spec.MAX_EFFECTIVE_BALANCE
    chosen: list[int] = []
    random_bytes = b""
    i = 0
    while len(chosen) < wanted:
        candidate = indices[shuffled_position(i % total)]
        if electra:
            if i % 16 == 0:
                random_bytes = sha256(seed + uint_to_bytes(i // 16))
            offset = i % 16 * 2
            random_value = bytes_to_uint64(random_bytes[offset : offset + 2])
        else:
            if i % 32 == 0:
                random_bytes = sha256(seed + uint_to_bytes(i // 32))
            random_value = random_bytes[i % 32]
        if int(effective_balance[candidate]) * max_random_value >= max_balance * random_value:
            chosen.append(candidate)
        i += 1
    return chosen


# Below this many candidates one whole-list shuffle is cheaper than shuffling index by index.
_PERMUTATION_THRESHOLD = 8192


def _shuffled_position_function(spec: Any, total: int, seed: bytes, wanted: int) -> Any:
    """Return i -> compute_shuffled_index(i, total, seed), whole-list shuffled when cheaper.

    Sync committees draw hundreds (electra: tens of thousands) of candidates, so they always
    take the whole-list shuffle; a single proposer on a large registry shuffles per index.
    """
    if total <= _PERMUTATION_THRESHOLD or wanted > 1:
        return compute_shuffled_permutation(spec, total, seed).__getitem__
    return lambda index: compute_shuffled_index(spec, index, total, seed)


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
