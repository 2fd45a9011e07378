"""process_attestation: phase0 pending attestations, altair participation flags, electra
attestations spanning several committees (EIP-7549)."""

from collections.abc import Sequence
from itertools import compress
from typing import Any

import numpy as np

from caplin.config.constants import PARTICIPATION_FLAG_WEIGHTS, PROPOSER_WEIGHT, WEIGHT_DENOMINATOR
from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.epoch.tree_arrays import patch_basic_list, read_basic_list
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    get_attestation_participation_flag_indices,
    get_attesting_indices,
    get_base_reward,
    get_base_reward_per_increment,
    get_beacon_committee,
    get_beacon_proposer_index,
    get_committee_count_per_slot,
    get_current_epoch,
    get_previous_epoch,
    increase_balance,
    queue_attestation_signature,
    read_bits,
    validator_table,
)
from caplin.transition.signatures import SignatureBatch

from ._common import uint64_checked


class ParticipationFlags:
    """Numpy copies of a state's participation lists, stored back in the state by `write()`.

    Attestations of one block update the copies in order, so each list is read and written
    once per block instead of once per attestation. Until `write()`, the state's lists keep
    their old values.
    """

    def __init__(self, state: Any) -> None:
        self._state = state
        self._old: dict[str, np.ndarray] = {}
        self._new: dict[str, np.ndarray] = {}

    def flags(self, field: str) -> np.ndarray:
        """Return the writable flags of the participation list `field`."""
        flags = self._new.get(field)
        if flags is None:
            old = read_basic_list(getattr(self._state, field), np.dtype("u1"))
            self._old[field] = old
            flags = self._new[field] = old.copy()
        return flags

    def write(self) -> None:
        """Store every changed list in the state, sharing its unchanged chunks."""
        for field, new in self._new.items():
            old_view = getattr(self._state, field)
            setattr(self._state, field, patch_basic_list(old_view, self._old[field], new))
        self._old.clear()
        self._new.clear()


def process_attestations(
    spec: Any, state: Any, attestations: Sequence[Any], sigs: SignatureBatch
) -> None:
    """Apply `attestations` in order, as `process_attestation` on each does.

    When the attestations cover about a slot's share of the registry or more (electra
    aggregates span every committee of their slot), the participation flags are updated on
    numpy copies and written to the state once at the end.
    """
    bit_total = sum(len(attestation.aggregation_bits) for attestation in attestations)
    batched = spec.fork_of(state) >= Fork.ALTAIR and bit_total * spec.SLOTS_PER_EPOCH >= len(
        state.validators
    )
    if not batched:
        for attestation in attestations:
            process_attestation(spec, state, attestation, sigs)
        return

    flags = ParticipationFlags(state)
    for attestation in attestations:
        process_attestation(spec, state, attestation, sigs, flags)
    flags.write()


@uint64_checked("attestation")
def process_attestation(
    spec: Any,
    state: Any,
    attestation: Any,
    sigs: SignatureBatch,
    flags: ParticipationFlags | None = None,
) -> None:
    """Check `attestation`, add its aggregate signature to `sigs` and record it in the state.

    Phase0 appends a pending attestation. Altair and later forks set participation flags and
    pay the proposer. With `flags`, the participation flags change only in `flags`, and the
    caller stores them with `flags.write()`. Raises `BlockProcessingError` naming the rule
    that failed.
    """
    fork = spec.fork_of(state)
    _check_timing(spec, state, attestation.data, fork)
    if fork >= Fork.ELECTRA:
        attesting = _check_committees_electra(spec, state, attestation)
    else:
        _check_committee(spec, state, attestation)
        attesting = None

    if fork == Fork.PHASE0:
        _record_pending_attestation(spec, state, attestation, sigs)
    else:
        if attesting is None:
            attesting = sorted(get_attesting_indices(spec, state, attestation))
        _record_participation(spec, state, attestation, sigs, flags, attesting)


def _check_timing(spec: Any, state: Any, data: Any, fork: Fork) -> None:
    slot = int(data.slot)
    target_epoch = int(data.target.epoch)
    state_slot = int(state.slot)
    current_epoch = get_current_epoch(spec, state)
    previous_epoch = get_previous_epoch(spec, state)

    require(
        target_epoch in (previous_epoch, current_epoch),
        "attestation.target_epoch",
        "target epoch is neither the previous nor the current epoch",
        target_epoch=target_epoch,
        current_epoch=current_epoch,
    )
    require(
        target_epoch == compute_epoch_at_slot(spec, slot),
        "attestation.target_epoch",
        "target epoch does not contain the attestation slot",
        target_epoch=target_epoch,
        slot=slot,
    )
    require(
        slot + spec.MIN_ATTESTATION_INCLUSION_DELAY <= state_slot,
        "attestation.inclusion_delay",
        "attestation is included too early",
        slot=slot,
        state_slot=state_slot,
    )
    # Deneb (EIP-7045) lets an attestation be included until the end of the next epoch, which
    # the target epoch check above already enforces.
    if fork < Fork.DENEB:
        require(
            state_slot <= slot + spec.SLOTS_PER_EPOCH,
            "attestation.inclusion_delay",
            "attestation is included more than one epoch after its slot",
            slot=slot,
            state_slot=state_slot,
        )


def _check_committee(spec: Any, state: Any, attestation: Any) -> None:
    data = attestation.data
    index = int(data.index)
    count = get_committee_count_per_slot(spec, state, int(data.target.epoch))
    require(
        index < count,
        "attestation.committee_index",
        "committee index out of range",
        slot=int(data.slot),
        index=index,
        committees=count,
    )

    committee = get_beacon_committee(spec, state, int(data.slot), index)
    require(
        len(attestation.aggregation_bits) == len(committee),
        "attestation.aggregation_bits",
        "aggregation bits length does not match the committee size",
        slot=int(data.slot),
        index=index,
        expected=len(committee),
        actual=len(attestation.aggregation_bits),
    )


def _check_committees_electra(spec: Any, state: Any, attestation: Any) -> list[int]:
    """Check the committees and bits of an electra attestation; return its sorted attesters.

    The attesters are `get_attesting_indices` of the attestation, collected from the
    committees read here so that each committee is computed once.
    """
    # Electra (EIP-7549) moves the committee index out of the signed data into committee_bits.
    data = attestation.data
    require(
        int(data.index) == 0,
        "attestation.data_index",
        "attestation data index must be zero from electra",
        index=int(data.index),
    )

    bits = read_bits(attestation.aggregation_bits)
    bit_count = len(bits)
    count = get_committee_count_per_slot(spec, state, int(data.target.epoch))
    offset = 0
    attesters: set[int] = set()
    for committee_index, bit in enumerate(attestation.committee_bits):
        if not bit:
            continue
        require(
            committee_index < count,
            "attestation.committee_index",
            "committee index out of range",
            slot=int(data.slot),
            index=committee_index,
            committees=count,
        )
        committee = get_beacon_committee(spec, state, int(data.slot), committee_index)
        require(
            offset + len(committee) <= bit_count,
            "attestation.aggregation_bits",
            "aggregation bits are shorter than the committees they cover",
            slot=int(data.slot),
            index=committee_index,
            bits=bit_count,
        )
        committee_bits = bits[offset : offset + len(committee)]
        require(
            any(committee_bits),
            "attestation.empty_committee",
            "no member of a committee in committee_bits attested",
            slot=int(data.slot),
            index=committee_index,
        )
        attesters.update(compress(committee, committee_bits))
        offset += len(committee)

    require(
        bit_count == offset,
        "attestation.aggregation_bits",
        "aggregation bits length does not match the committees' total size",
        slot=int(data.slot),
        expected=offset,
        actual=bit_count,
    )
    return sorted(attesters)


def _verify_signature(
    spec: Any, state: Any, attestation: Any, sigs: SignatureBatch, attesting: list[int]
) -> None:
    """Queue the aggregate signature of `attestation`, whose sorted attesters are `attesting`.

    This is `is_valid_indexed_attestation(get_indexed_attestation(attestation))` without the
    SSZ `IndexedAttestation`, whose index list costs more to build than the check itself.
    """
    valid = queue_attestation_signature(
        spec, state, attesting, attestation.data, bytes(attestation.signature), sigs
    )
    require(
        valid,
        "attestation.indexed_attestation",
        "indexed attestation is invalid",
        slot=int(attestation.data.slot),
        index=int(attestation.data.index),
    )


def _record_pending_attestation(
    spec: Any, state: Any, attestation: Any, sigs: SignatureBatch
) -> None:
    data = attestation.data
    pending = spec.types(Fork.PHASE0).PendingAttestation(
        aggregation_bits=attestation.aggregation_bits,
        data=data,
        inclusion_delay=int(state.slot) - int(data.slot),
        proposer_index=get_beacon_proposer_index(spec, state),
    )

    if int(data.target.epoch) == get_current_epoch(spec, state):
        justified = state.current_justified_checkpoint
        pending_list = state.current_epoch_attestations
    else:
        justified = state.previous_justified_checkpoint
        pending_list = state.previous_epoch_attestations
    require(
        data.source.hash_tree_root() == justified.hash_tree_root(),
        "attestation.source",
        "source checkpoint is not the justified checkpoint",
        source_epoch=int(data.source.epoch),
        justified_epoch=int(justified.epoch),
    )
    pending_list.append(pending)

    attesting = sorted(get_attesting_indices(spec, state, attestation))
    _verify_signature(spec, state, attestation, sigs, attesting)


def _record_participation(
    spec: Any,
    state: Any,
    attestation: Any,
    sigs: SignatureBatch,
    flags: ParticipationFlags | None,
    attesting: list[int],
) -> None:
    """Queue the signature, set the earned flags of the sorted `attesting` and pay the proposer."""
    data = attestation.data
    # The flag helper rejects an attestation whose source is not the justified checkpoint.
    flag_indices = get_attestation_participation_flag_indices(
        spec, state, data, int(state.slot) - int(data.slot)
    )

    _verify_signature(spec, state, attestation, sigs, attesting)

    if int(data.target.epoch) == get_current_epoch(spec, state):
        field = "current_epoch_participation"
    else:
        field = "previous_epoch_participation"

    # An aggregate covering about a slot's share of the registry or more (electra aggregates
    # span every committee of their slot) is cheaper to apply to the whole list at once.
    if flags is not None:
        reward_numerator = _add_flags_to_array(
            spec, state, flags.flags(field), attesting, flag_indices
        )
    elif len(attesting) * spec.SLOTS_PER_EPOCH >= len(state.validators):
        reward_numerator = _add_flags_to_list(spec, state, field, attesting, flag_indices)
    else:
        reward_numerator = _add_flags_one_by_one(spec, state, field, attesting, flag_indices)

    reward_denominator = (
        (WEIGHT_DENOMINATOR - PROPOSER_WEIGHT) * WEIGHT_DENOMINATOR // PROPOSER_WEIGHT
    )
    proposer_reward = reward_numerator // reward_denominator
    increase_balance(spec, state, get_beacon_proposer_index(spec, state), proposer_reward)


def _add_flags_one_by_one(
    spec: Any, state: Any, field: str, attesting: list[int], flag_indices: list[int]
) -> int:
    """Set the earned flags of each attester and return the proposer reward numerator."""
    participation = getattr(state, field)
    reward_numerator = 0
    for index in attesting:
        flags = int(participation[index])
        new_weight = 0
        new_flags = flags
        for flag_index, weight in enumerate(PARTICIPATION_FLAG_WEIGHTS):
            if flag_index in flag_indices and not flags & (1 << flag_index):
                new_flags |= 1 << flag_index
                new_weight += weight
        if new_flags != flags:
            participation[index] = new_flags
            reward_numerator += get_base_reward(spec, state, index) * new_weight
    return reward_numerator


def _add_flags_to_list(
    spec: Any, state: Any, field: str, attesting: list[int], flag_indices: list[int]
) -> int:
    """Do what `_add_flags_one_by_one` does, with one read and one write of the whole list."""
    flags = ParticipationFlags(state)
    reward_numerator = _add_flags_to_array(spec, state, flags.flags(field), attesting, flag_indices)
    flags.write()
    return reward_numerator


def _add_flags_to_array(
    spec: Any, state: Any, flags: np.ndarray, attesting: list[int], flag_indices: list[int]
) -> int:
    """Do what `_add_flags_one_by_one` does, on `flags`, a numpy copy of the list's flags.

    The sum of `get_base_reward(index) * weight` equals the base reward per increment times
    the sum of `increments * weight`, which is computed here.
    """
    indices = np.asarray(attesting, dtype=np.int64)
    old = flags[indices]
    new = old | np.uint8(sum(1 << flag_index for flag_index in flag_indices))
    newly_set = new & ~old
    weights = np.zeros(len(indices), dtype=np.int64)
    for flag_index, weight in enumerate(PARTICIPATION_FLAG_WEIGHTS):
        weights += ((newly_set >> flag_index) & 1).astype(np.int64) * weight
    changed = weights > 0
    if not changed.any():
        return 0

    effective = validator_table(state).effective_balance[indices[changed]]
    increments = effective // np.uint64(spec.EFFECTIVE_BALANCE_INCREMENT)
    # Each product is below 2**17 (at most 2048 increments times a weight sum of 54), so an
    # int64 sum of up to 2**46 of them cannot overflow.
    weighted_increments = int(np.dot(increments.astype(np.int64), weights[changed]))
    flags[indices] = new
    return weighted_increments * get_base_reward_per_increment(spec, state)
