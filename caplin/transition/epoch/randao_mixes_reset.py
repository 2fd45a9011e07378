"""Carrying the RANDAO mix into the next epoch's slot of the mixes vector."""

from typing import Any

from caplin.transition.helpers import get_current_epoch, get_randao_mix


def process_randao_mixes_reset(spec: Any, state: Any) -> None:
    """Seed the next epoch's RANDAO mix with the current epoch's mix."""
    current_epoch = get_current_epoch(spec, state)
    next_index = (current_epoch + 1) % spec.EPOCHS_PER_HISTORICAL_VECTOR
    state.randao_mixes[next_index] = get_randao_mix(spec, state, current_epoch)
