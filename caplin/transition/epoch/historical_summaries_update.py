"""The capella historical summaries accumulator, which replaced historical roots."""

from typing import Any

from caplin.transition.helpers import get_current_epoch


def process_historical_summaries_update(spec: Any, state: Any) -> None:
    """Append the block and state roots summary when the next epoch starts a period."""
    next_epoch = get_current_epoch(spec, state) + 1
    if next_epoch % (spec.SLOTS_PER_HISTORICAL_ROOT // spec.SLOTS_PER_EPOCH) != 0:
        return
    summary_type = spec.types(spec.fork_of(state)).HistoricalSummary
    summary = summary_type(
        block_summary_root=state.block_roots.hash_tree_root(),
        state_summary_root=state.state_roots.hash_tree_root(),
    )
    state.historical_summaries.append(summary)
