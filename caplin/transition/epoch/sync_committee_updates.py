"""Sync committee rotation at the end of each sync committee period (altair)."""

from typing import Any

from caplin.transition.helpers import get_current_epoch, get_next_sync_committee


def process_sync_committee_updates(spec: Any, state: Any) -> None:
    """Promote the next sync committee and select a new one when a period ends."""
    next_epoch = get_current_epoch(spec, state) + 1
    if next_epoch % spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD == 0:
        state.current_sync_committee = state.next_sync_committee
        state.next_sync_committee = get_next_sync_committee(spec, state)
