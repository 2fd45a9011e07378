"""The phase0 to bellatrix historical roots accumulator (frozen from capella on)."""

from typing import Any

from caplin.transition.helpers import get_current_epoch


def process_historical_roots_update(spec: Any, state: Any) -> None:
    """Append the root of the block and state roots batch when the next epoch starts a period."""
    next_epoch = get_current_epoch(spec, state) + 1
    if next_epoch % (spec.SLOTS_PER_HISTORICAL_ROOT // spec.SLOTS_PER_EPOCH) != 0:
        return
    batch_type = spec.types(spec.fork_of(state)).HistoricalBatch
    batch = batch_type(block_roots=state.block_roots, state_roots=state.state_roots)
    state.historical_roots.append(batch.hash_tree_root())
