"""Weak subjectivity: how long a finalized state stays a safe starting point for sync."""

from typing import Any

from caplin.config.constants import ETH_TO_GWEI
from caplin.config.forks import Fork
from caplin.errors import CaplinError
from caplin.transition.helpers.accessors import get_block_root, get_total_active_balance
from caplin.transition.helpers.churn import get_balance_churn_limit, get_validator_churn_limit
from caplin.transition.helpers.committees import get_active_validator_indices, get_current_epoch
from caplin.transition.helpers.misc import compute_epoch_at_slot, compute_start_slot_at_epoch

# The tolerated loss of finality's one-third safety margin over the period, in percent.
SAFETY_DECAY = 10


def compute_weak_subjectivity_period(spec: Any, state: Any) -> int:
    """Return, in epochs, how long after its epoch `state` is safe to sync from.

    Electra bounds validator-set change by the Gwei balance churn; earlier forks by the
    validator churn and by balance top-ups of MAX_DEPOSITS per slot.
    """
    if spec.fork_of(state) >= Fork.ELECTRA:
        total = get_total_active_balance(spec, state)
        churn = get_balance_churn_limit(spec, state)
        return spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY + SAFETY_DECAY * total // (2 * churn * 100)

    period = spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
    count = len(get_active_validator_indices(spec, state, get_current_epoch(spec, state)))
    average = get_total_active_balance(spec, state) // count // ETH_TO_GWEI
    maximum = spec.MAX_EFFECTIVE_BALANCE // ETH_TO_GWEI
    churn = get_validator_churn_limit(spec, state)
    top_ups = spec.MAX_DEPOSITS * spec.SLOTS_PER_EPOCH
    decay = SAFETY_DECAY
    if average * (200 + 12 * decay) > maximum * (200 + 3 * decay):
        set_churn_epochs = (
            count
            * (average * (200 + 12 * decay) - maximum * (200 + 3 * decay))
            // (600 * churn * (2 * average + maximum))
        )
        top_up_epochs = count * (200 + 3 * decay) // (600 * top_ups)
        return period + max(set_churn_epochs, top_up_epochs)
    return period + 3 * count * decay * average // (200 * top_ups * (maximum - average))


def _checkpoint_block_root(spec: Any, state: Any, epoch: int) -> bytes:
    """Return the block root at the start of `epoch`, also for a state at exactly that slot.

    The spec reads `block_roots`, which does not yet contain the block of the state's own
    slot. Checkpoint states usually are at that slot, so their latest header is used.
    """
    if int(state.slot) > compute_start_slot_at_epoch(spec, epoch):
        return get_block_root(spec, state, epoch)
    header = state.latest_block_header.copy()
    if bytes(header.state_root) == b"\x00" * 32:
        header.state_root = state.hash_tree_root()
    return bytes(header.hash_tree_root())


def is_within_weak_subjectivity_period(
    spec: Any, current_slot: int, ws_state: Any, ws_checkpoint: Any
) -> bool:
    """Return True when `ws_state` at `ws_checkpoint` is still safe to sync from at `current_slot`.

    The spec takes a fork-choice store for the current slot; this takes the slot itself.

    Raises:
        CaplinError: `ws_state` is not the state of `ws_checkpoint`.
    """
    checkpoint_epoch = int(ws_checkpoint.epoch)
    state_epoch = compute_epoch_at_slot(spec, ws_state.slot)
    if state_epoch != checkpoint_epoch:
        raise CaplinError(
            "weak subjectivity state is not at the checkpoint epoch",
            state_epoch=state_epoch,
            checkpoint_epoch=checkpoint_epoch,
        )
    if _checkpoint_block_root(spec, ws_state, checkpoint_epoch) != bytes(ws_checkpoint.root):
        raise CaplinError(
            "weak subjectivity state does not contain the checkpoint block",
            checkpoint_root=bytes(ws_checkpoint.root),
        )
    period = compute_weak_subjectivity_period(spec, ws_state)
    return compute_epoch_at_slot(spec, current_slot) <= state_epoch + period
