"""Per-slot processing: root caching, epoch processing at epoch ends, fork upgrades."""

from typing import Any

from caplin.errors import CaplinError, SlotProcessingError
from caplin.transition.upgrade import upgrade_to

_ZERO_ROOT = b"\x00" * 32


def process_slot(spec: Any, state: Any) -> None:
    """Record the state root and block root of the state's current slot in their histories."""
    slot_index = int(state.slot) % spec.SLOTS_PER_HISTORICAL_ROOT
    previous_state_root = state.hash_tree_root()
    state.state_roots[slot_index] = previous_state_root

    # The header of the latest block was stored before its post-state root was known.
    header = state.latest_block_header
    if bytes(header.state_root) == _ZERO_ROOT:
        header.state_root = previous_state_root
        state.latest_block_header = header
    state.block_roots[slot_index] = state.latest_block_header.hash_tree_root()


def process_slots(spec: Any, state: Any, slot: int) -> Any:
    """Advance `state` to `slot` and return it.

    Runs epoch processing after the last slot of each epoch, and when the new epoch is the
    configured activation epoch of a later fork, upgrades the state to that fork. The state
    is changed in place, but an upgrade yields a state of another type, so callers must use
    the returned state.

    Raises:
        SlotProcessingError: `slot` is not after the state's slot, or epoch processing
            failed on a value out of range.
    """
    from caplin.transition.epoch import process_epoch

    slot = int(slot)
    if slot <= int(state.slot):
        raise SlotProcessingError(
            "target slot is not after the state's slot", slot=slot, state_slot=int(state.slot)
        )
    slots_per_epoch = spec.SLOTS_PER_EPOCH
    while int(state.slot) < slot:
        process_slot(spec, state)
        next_slot = int(state.slot) + 1
        if next_slot % slots_per_epoch == 0:
            _run_epoch(spec, state, process_epoch)
        state.slot = next_slot
        if next_slot % slots_per_epoch == 0:
            state = _upgrade_at_epoch_start(spec, state, next_slot // slots_per_epoch)
    return state


def _run_epoch(spec: Any, state: Any, process_epoch: Any) -> None:
    try:
        process_epoch(spec, state)
    except CaplinError:
        raise
    except (ValueError, OverflowError) as error:
        # SSZ views reject out-of-range uint64 values with these.
        raise SlotProcessingError(
            f"epoch processing failed: {error}", slot=int(state.slot)
        ) from error


def _upgrade_at_epoch_start(spec: Any, state: Any, epoch: int) -> Any:
    """Upgrade `state` to the fork that activates at `epoch`, if one does."""
    fork = spec.fork_at_epoch(epoch)
    if fork > spec.fork_of(state) and spec.fork_epoch(fork) == epoch:
        return upgrade_to(spec, state, fork)
    return state
