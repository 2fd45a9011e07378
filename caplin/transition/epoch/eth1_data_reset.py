"""Clearing of the eth1 data votes at the end of each voting period."""

from typing import Any

from caplin.transition.helpers import get_current_epoch


def process_eth1_data_reset(spec: Any, state: Any) -> None:
    """Empty `state.eth1_data_votes` when the next epoch starts a new voting period."""
    next_epoch = get_current_epoch(spec, state) + 1
    if next_epoch % spec.EPOCHS_PER_ETH1_VOTING_PERIOD == 0:
        state.eth1_data_votes = type(state.eth1_data_votes)()
