"""Rotation of the phase0 pending attestations."""

from typing import Any


def process_participation_record_updates(spec: Any, state: Any) -> None:
    """Make the current epoch's pending attestations the previous epoch's, and start empty."""
    # Moving the tree avoids an element-by-element copy when the two field classes differ.
    previous_type = type(state.previous_epoch_attestations)
    current = state.current_epoch_attestations
    state.previous_epoch_attestations = previous_type.view_from_backing(current.get_backing())
    state.current_epoch_attestations = type(current)()
