"""process_eth1_data: record the block's eth1 vote and adopt it on a majority."""

from typing import Any

from ._common import uint64_checked


@uint64_checked("eth1_data")
def process_eth1_data(spec: Any, state: Any, body: Any) -> None:
    """Append the block's eth1 vote; adopt it once more than half the voting period agrees."""
    state.eth1_data_votes.append(body.eth1_data)

    vote_root = body.eth1_data.hash_tree_root()
    votes = sum(1 for vote in state.eth1_data_votes if vote.hash_tree_root() == vote_root)
    period_slots = spec.EPOCHS_PER_ETH1_VOTING_PERIOD * spec.SLOTS_PER_EPOCH
    if votes * 2 > period_slots:
        state.eth1_data = body.eth1_data
