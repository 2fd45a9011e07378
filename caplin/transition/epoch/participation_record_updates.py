"""Rotation of the phase0 pending attestations."""

from typing import Any


def process_participation_record_updates(spec: Any, state: Any) -> None:
    """Make the current epoch's pending attestations the previous epoch's, and start empty."""
    state.previous_epoch_attestations = state.current_epoch_attestations
    state.current_epoch_attestations = type(state.current_epoch_attestations)()
