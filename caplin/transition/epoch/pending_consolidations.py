"""Moving the balance of consolidated validators to their targets (electra)."""

from typing import Any

from caplin.transition.helpers import decrease_balance, get_current_epoch, increase_balance


def process_pending_consolidations(spec: Any, state: Any) -> None:
    """Apply the queued consolidations whose source has become withdrawable, in queue order.

    A slashed source is dropped from the queue without moving balance, and the first source
    that is not yet withdrawable stops the pass.
    """
    next_epoch = get_current_epoch(spec, state) + 1
    processed = 0
    for consolidation in state.pending_consolidations:
        source_index = int(consolidation.source_index)
        source = state.validators[source_index]
        if source.slashed:
            processed += 1
            continue
        if int(source.withdrawable_epoch) > next_epoch:
            break

        # Only the effective part moves; any excess stays withdrawable on the source.
        moved = min(int(state.balances[source_index]), int(source.effective_balance))
        decrease_balance(spec, state, source_index, moved)
        increase_balance(spec, state, int(consolidation.target_index), moved)
        processed += 1

    if processed:
        queue = state.pending_consolidations
        state.pending_consolidations = type(queue)(*list(queue)[processed:])
