"""The spec's `get_*` accessors of roots, balances, domains, attestations and rewards."""

from collections.abc import Iterable
from itertools import compress
from typing import Any

import numpy as np

from caplin.config.constants import (
    BASE_REWARDS_PER_EPOCH,
    TIMELY_HEAD_FLAG_INDEX,
    TIMELY_SOURCE_FLAG_INDEX,
    TIMELY_TARGET_FLAG_INDEX,
)
from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.caches import total_active_balance_cache, validators_key
from caplin.transition.helpers.committees import (
    get_active_validator_indices,
    get_beacon_committee,
    get_current_epoch,
    get_previous_epoch,
)
from caplin.transition.helpers.math import integer_squareroot
from caplin.transition.helpers.misc import compute_domain, compute_start_slot_at_epoch
from caplin.transition.helpers.registry import validator_table


def get_block_root_at_slot(spec: Any, state: Any, slot: int) -> bytes:
    """Return the block root at a slot of the last SLOTS_PER_HISTORICAL_ROOT slots.

    Raises:
        BlockProcessingError: `slot` is not in that range.
    """
    slot = int(slot)
    state_slot = int(state.slot)
    require(
        slot < state_slot <= slot + spec.SLOTS_PER_HISTORICAL_ROOT,
        "block_root_at_slot",
        "slot is not within the state's block root history",
        slot=slot,
        state_slot=state_slot,
    )
    return bytes(state.block_roots[slot % spec.SLOTS_PER_HISTORICAL_ROOT])


def get_block_root(spec: Any, state: Any, epoch: int) -> bytes:
    """Return the block root at the start slot of a recent `epoch`."""
    return get_block_root_at_slot(spec, state, compute_start_slot_at_epoch(spec, epoch))


def get_total_balance(spec: Any, state: Any, indices: Iterable[int]) -> int:
    """Return the summed effective balance of `indices`, at least EFFECTIVE_BALANCE_INCREMENT."""
    effective_balance = validator_table(state).effective_balance
    selected = np.fromiter((int(i) for i in indices), dtype=np.int64)
    total = int(effective_balance[selected].sum(dtype=np.uint64)) if len(selected) else 0
    return max(spec.EFFECTIVE_BALANCE_INCREMENT, total)


def get_total_active_balance(spec: Any, state: Any) -> int:
    """Return the effective balance of the current epoch's active set (cached per registry)."""
    epoch = get_current_epoch(spec, state)
    key = (validators_key(state), epoch)

    def compute() -> int:
        return get_total_balance(spec, state, get_active_validator_indices(spec, state, epoch))

    return total_active_balance_cache.get_or_compute(key, compute)


def get_domain(spec: Any, state: Any, domain_type: bytes, epoch: int | None = None) -> bytes:
    """Return the signature domain of `domain_type` at `epoch` (default: the current epoch)."""
    epoch = get_current_epoch(spec, state) if epoch is None else int(epoch)
    fork = state.fork
    if epoch < int(fork.epoch):
        fork_version = bytes(fork.previous_version)
    else:
        fork_version = bytes(fork.current_version)
    return compute_domain(spec, domain_type, fork_version, bytes(state.genesis_validators_root))


def get_committee_indices(spec: Any, committee_bits: Iterable[object]) -> list[int]:
    """Return the committee indices whose bit is set in an attestation's `committee_bits`."""
    return [index for index, bit in enumerate(committee_bits) if bit]


def get_attesting_indices(spec: Any, state: Any, attestation: Any) -> set[int]:
    """Return the validator indices whose aggregation bit is set in `attestation`.

    Electra attestations span every committee of `committee_bits`, with the committees'
    aggregation bits concatenated in committee order.

    Raises:
        BlockProcessingError: the aggregation bits are shorter than the committees.
    """
    data = attestation.data
    bits = read_bits(attestation.aggregation_bits)
    bit_count = len(bits)
    if spec.fork_of(state) < Fork.ELECTRA:
        committee = get_beacon_committee(spec, state, data.slot, data.index)
        _require_bits(bit_count, len(committee))
        return set(compress(committee, bits))

    attesters: set[int] = set()
    offset = 0
    for committee_index in get_committee_indices(spec, attestation.committee_bits):
        committee = get_beacon_committee(spec, state, data.slot, committee_index)
        _require_bits(bit_count, offset + len(committee))
        attesters.update(compress(committee, bits[offset : offset + len(committee)]))
        offset += len(committee)
    return attesters


def read_bits(bitfield: Any) -> list[bool]:
    """Return the bits of an SSZ `Bitlist` or `Bitvector` view as a list of bools.

    Decoding the serialized bytes at once costs far less than indexing the view bit by bit,
    which walks the backing tree for each bit.
    """
    count = len(bitfield)
    if not hasattr(bitfield, "encode_bytes"):
        return [bool(bit) for bit in bitfield]
    packed = np.frombuffer(bitfield.encode_bytes(), dtype=np.uint8)
    return np.unpackbits(packed, bitorder="little")[:count].astype(bool).tolist()


def _require_bits(bit_count: int, needed: int) -> None:
    require(
        bit_count >= needed,
        "aggregation_bits",
        "aggregation bits shorter than the committee",
        bits=bit_count,
        committee_bits_needed=needed,
    )


def get_indexed_attestation(spec: Any, state: Any, attestation: Any) -> Any:
    """Return the `IndexedAttestation` of `attestation`, with sorted attesting indices."""
    types = spec.types(spec.fork_of(state))
    return types.IndexedAttestation(
        attesting_indices=sorted(get_attesting_indices(spec, state, attestation)),
        data=attestation.data,
        signature=attestation.signature,
    )


def get_base_reward_per_increment(spec: Any, state: Any) -> int:
    """Return the base reward of one EFFECTIVE_BALANCE_INCREMENT of stake (altair)."""
    total = get_total_active_balance(spec, state)
    return spec.EFFECTIVE_BALANCE_INCREMENT * spec.BASE_REWARD_FACTOR // integer_squareroot(total)


def get_base_reward(spec: Any, state: Any, index: int) -> int:
    """Return the base reward of validator `index`.

    Phase0 splits it over BASE_REWARDS_PER_EPOCH; altair pays per effective balance increment.
    """
    effective_balance = int(validator_table(state).effective_balance[int(index)])
    if spec.fork_of(state) >= Fork.ALTAIR:
        increments = effective_balance // spec.EFFECTIVE_BALANCE_INCREMENT
        return increments * get_base_reward_per_increment(spec, state)
    total = get_total_active_balance(spec, state)
    return (
        effective_balance
        * spec.BASE_REWARD_FACTOR
        // integer_squareroot(total)
        // BASE_REWARDS_PER_EPOCH
    )


def get_finality_delay(spec: Any, state: Any) -> int:
    return get_previous_epoch(spec, state) - int(state.finalized_checkpoint.epoch)


def is_in_inactivity_leak(spec: Any, state: Any) -> bool:
    return get_finality_delay(spec, state) > spec.MIN_EPOCHS_TO_INACTIVITY_PENALTY


def get_eligible_validator_indices(spec: Any, state: Any) -> list[int]:
    """Return validators active in the previous epoch, or slashed and not yet withdrawable."""
    previous_epoch = get_previous_epoch(spec, state)
    table = validator_table(state)
    eligible = table.active_mask(previous_epoch) | (
        table.slashed & (previous_epoch + 1 < table.withdrawable_epoch)
    )
    return np.flatnonzero(eligible).tolist()


def get_unslashed_participating_indices(
    spec: Any, state: Any, flag_index: int, epoch: int
) -> set[int]:
    """Return the active, unslashed validators with participation flag `flag_index` (altair)."""
    current_epoch = get_current_epoch(spec, state)
    epoch = int(epoch)
    if epoch not in (get_previous_epoch(spec, state), current_epoch):
        raise ValueError(f"participation of epoch {epoch} is not in the state")
    if epoch == current_epoch:
        participation = state.current_epoch_participation
    else:
        participation = state.previous_epoch_participation
    flags = np.frombuffer(participation.encode_bytes(), dtype=np.uint8)
    table = validator_table(state)
    selected = table.active_mask(epoch) & ~table.slashed & ((flags >> flag_index) & 1 == 1)
    return set(np.flatnonzero(selected).tolist())


def get_attestation_participation_flag_indices(
    spec: Any, state: Any, data: Any, inclusion_delay: int
) -> list[int]:
    """Return the participation flags an attestation with `data` earns (altair).

    Deneb drops the inclusion-delay limit of the target flag.

    Raises:
        BlockProcessingError: the attestation's source is not the justified checkpoint.
    """
    if int(data.target.epoch) == get_current_epoch(spec, state):
        justified_checkpoint = state.current_justified_checkpoint
    else:
        justified_checkpoint = state.previous_justified_checkpoint
    is_matching_source = data.source.hash_tree_root() == justified_checkpoint.hash_tree_root()
    require(
        is_matching_source,
        "attestation_source",
        "attestation source is not the justified checkpoint",
        source_epoch=int(data.source.epoch),
        justified_epoch=int(justified_checkpoint.epoch),
    )
    target_root = get_block_root(spec, state, data.target.epoch)
    is_matching_target = bytes(data.target.root) == target_root
    head_root = get_block_root_at_slot(spec, state, data.slot)
    is_matching_head = is_matching_target and bytes(data.beacon_block_root) == head_root

    flags = []
    if inclusion_delay <= integer_squareroot(spec.SLOTS_PER_EPOCH):
        flags.append(TIMELY_SOURCE_FLAG_INDEX)
    if is_matching_target and (
        spec.fork_of(state) >= Fork.DENEB or inclusion_delay <= spec.SLOTS_PER_EPOCH
    ):
        flags.append(TIMELY_TARGET_FLAG_INDEX)
    if is_matching_head and inclusion_delay == spec.MIN_ATTESTATION_INCLUSION_DELAY:
        flags.append(TIMELY_HEAD_FLAG_INDEX)
    return flags


def get_pending_balance_to_withdraw(spec: Any, state: Any, validator_index: int) -> int:
    """Return the sum of the validator's queued partial withdrawals (electra)."""
    validator_index = int(validator_index)
    return sum(
        int(withdrawal.amount)
        for withdrawal in state.pending_partial_withdrawals.readonly_iter()
        if int(withdrawal.validator_index) == validator_index
    )
