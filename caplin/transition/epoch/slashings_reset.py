"""Clearing of the slashings vector entry the next epoch reuses."""

from typing import Any

from caplin.transition.helpers import get_current_epoch


def process_slashings_reset(spec: Any, state: Any) -> None:
    """Zero the slashed-balance entry of the next epoch in the circular slashings vector."""
    next_epoch = get_current_epoch(spec, state) + 1
    state.slashings[next_epoch % spec.EPOCHS_PER_SLASHINGS_VECTOR] = 0
