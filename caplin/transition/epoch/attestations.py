"""Phase0 pending-attestation accessors used by justification and rewards."""

from collections.abc import Sequence
from typing import Any

from caplin.transition.helpers import (
    get_attesting_indices,
    get_block_root,
    get_block_root_at_slot,
    get_current_epoch,
    get_previous_epoch,
    get_total_balance,
)


def get_matching_source_attestations(spec: Any, state: Any, epoch: int) -> Sequence[Any]:
    """Return the pending attestations of `epoch`, which must be the previous or current epoch."""
    current_epoch = get_current_epoch(spec, state)
    if epoch == current_epoch:
        return list(state.current_epoch_attestations)
    previous_epoch = get_previous_epoch(spec, state)
    if epoch != previous_epoch:
        raise ValueError(
            f"epoch {epoch} is neither the previous ({previous_epoch}) nor the current epoch"
        )
    return list(state.previous_epoch_attestations)


def get_matching_target_attestations(spec: Any, state: Any, epoch: int) -> Sequence[Any]:
    """Return the pending attestations of `epoch` that voted for its checkpoint block."""
    attestations = get_matching_source_attestations(spec, state, epoch)
    # The block root is read only when needed: it may lie outside the history at genesis.
    if not attestations:
        return []
    target_root = bytes(get_block_root(spec, state, epoch))
    return [
        attestation
        for attestation in attestations
        if bytes(attestation.data.target.root) == target_root
    ]


def get_matching_head_attestations(spec: Any, state: Any, epoch: int) -> Sequence[Any]:
    """Return the target-matching attestations of `epoch` that also voted for the canonical head."""
    return [
        attestation
        for attestation in get_matching_target_attestations(spec, state, epoch)
        if bytes(attestation.data.beacon_block_root)
        == bytes(get_block_root_at_slot(spec, state, int(attestation.data.slot)))
    ]


def get_unslashed_attesting_indices(spec: Any, state: Any, attestations: Sequence[Any]) -> set[int]:
    """Return the indices of unslashed validators that took part in any of `attestations`."""
    indices: set[int] = set()
    for attestation in attestations:
        indices.update(int(index) for index in get_attesting_indices(spec, state, attestation))
    validators = state.validators
    return {index for index in indices if not validators[index].slashed}


def get_attesting_balance(spec: Any, state: Any, attestations: Sequence[Any]) -> int:
    """Return the effective balance (Gwei) of the unslashed validators in `attestations`."""
    attesters = get_unslashed_attesting_indices(spec, state, attestations)
    return get_total_balance(spec, state, attesters)
