"""Casper FFG justification and finalization at the end of an epoch."""

from typing import Any

from caplin.config.constants import GENESIS_EPOCH, TIMELY_TARGET_FLAG_INDEX
from caplin.config.forks import Fork
from caplin.transition.epoch.attestations import (
    get_matching_target_attestations,
    get_unslashed_attesting_indices,
)
from caplin.transition.helpers import (
    get_block_root,
    get_current_epoch,
    get_previous_epoch,
    get_total_active_balance,
    get_total_balance,
    get_unslashed_participating_indices,
)


def process_justification_and_finalization(spec: Any, state: Any) -> None:
    """Justify and finalize checkpoints from the target votes of the previous and current epoch."""
    # The first two epochs keep the genesis checkpoints, whose root is a zero stub.
    if get_current_epoch(spec, state) <= GENESIS_EPOCH + 1:
        return

    previous_epoch = get_previous_epoch(spec, state)
    current_epoch = get_current_epoch(spec, state)
    if spec.fork_of(state) >= Fork.ALTAIR:
        # altair: target votes are participation flags instead of pending attestations.
        previous_indices = get_unslashed_participating_indices(
            spec, state, TIMELY_TARGET_FLAG_INDEX, previous_epoch
        )
        current_indices = get_unslashed_participating_indices(
            spec, state, TIMELY_TARGET_FLAG_INDEX, current_epoch
        )
    else:
        previous_indices = get_unslashed_attesting_indices(
            spec, state, get_matching_target_attestations(spec, state, previous_epoch)
        )
        current_indices = get_unslashed_attesting_indices(
            spec, state, get_matching_target_attestations(spec, state, current_epoch)
        )

    weigh_justification_and_finalization(
        spec,
        state,
        get_total_active_balance(spec, state),
        get_total_balance(spec, state, previous_indices),
        get_total_balance(spec, state, current_indices),
    )


def weigh_justification_and_finalization(
    spec: Any,
    state: Any,
    total_active_balance: int,
    previous_epoch_target_balance: int,
    current_epoch_target_balance: int,
) -> None:
    """Apply the FFG rules given the active balance and the target balances of both epochs (Gwei).

    An epoch is justified when its target votes carry at least 2/3 of the active balance, and
    a justified checkpoint is finalized when the epochs linking it to a newer justified
    checkpoint (one, two or three epochs later) are all justified.
    """
    previous_epoch = get_previous_epoch(spec, state)
    current_epoch = get_current_epoch(spec, state)
    old_previous_justified = state.previous_justified_checkpoint
    old_current_justified = state.current_justified_checkpoint
    checkpoint_type = type(old_current_justified)

    # Shift the justification bits by one epoch; bit 0 is the current epoch.
    bits = [False] + [bool(bit) for bit in state.justification_bits][:-1]
    state.previous_justified_checkpoint = old_current_justified
    if previous_epoch_target_balance * 3 >= total_active_balance * 2:
        state.current_justified_checkpoint = checkpoint_type(
            epoch=previous_epoch, root=get_block_root(spec, state, previous_epoch)
        )
        bits[1] = True
    if current_epoch_target_balance * 3 >= total_active_balance * 2:
        state.current_justified_checkpoint = checkpoint_type(
            epoch=current_epoch, root=get_block_root(spec, state, current_epoch)
        )
        bits[0] = True
    state.justification_bits = type(state.justification_bits)(*bits)

    old_previous_epoch = int(old_previous_justified.epoch)
    old_current_epoch = int(old_current_justified.epoch)
    # Bits 1-3 are set and the previous justified checkpoint, three epochs back, is the source.
    if all(bits[1:4]) and old_previous_epoch + 3 == current_epoch:
        state.finalized_checkpoint = old_previous_justified
    # Bits 1-2 are set and the previous justified checkpoint, two epochs back, is the source.
    if all(bits[1:3]) and old_previous_epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_previous_justified
    # Bits 0-2 are set and the current justified checkpoint, two epochs back, is the source.
    if all(bits[0:3]) and old_current_epoch + 2 == current_epoch:
        state.finalized_checkpoint = old_current_justified
    # Bits 0-1 are set and the current justified checkpoint, one epoch back, is the source.
    if all(bits[0:2]) and old_current_epoch + 1 == current_epoch:
        state.finalized_checkpoint = old_current_justified
