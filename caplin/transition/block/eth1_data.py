"""process_eth1_data: record the block's eth1 vote and adopt it on a majority."""

from collections import Counter
from typing import Any

from caplin.transition.caches import LruCache

from ._common import uint64_checked

# Vote counts by vote root, keyed by the root of the `eth1_data_votes` list they count.
# Each block appends one vote, so the counts of the parent state's list give the new counts
# at once instead of rehashing up to EPOCHS_PER_ETH1_VOTING_PERIOD * SLOTS_PER_EPOCH votes.
_vote_counts: LruCache[Counter[bytes]] = LruCache(64)


def _count_votes(votes: Any) -> Counter[bytes]:
    return Counter(bytes(vote.hash_tree_root()) for vote in votes.readonly_iter())


@uint64_checked("eth1_data")
def process_eth1_data(spec: Any, state: Any, body: Any) -> None:
    """Append the block's eth1 vote and adopt it once more than half the voting period agrees."""
    votes = state.eth1_data_votes
    before = _vote_counts.get_or_compute(bytes(votes.hash_tree_root()), lambda: _count_votes(votes))
    votes.append(body.eth1_data)

    vote_root = bytes(body.eth1_data.hash_tree_root())
    after = Counter(before)
    after[vote_root] += 1
    _vote_counts.get_or_compute(bytes(votes.hash_tree_root()), lambda: after)

    period_slots = spec.EPOCHS_PER_ETH1_VOTING_PERIOD * spec.SLOTS_PER_EPOCH
    if after[vote_root] * 2 > period_slots:
        state.eth1_data = body.eth1_data
