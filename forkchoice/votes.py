"""Latest messages of all validators, applied to the block tree in batches.

Each validator's latest message (target epoch and block) is kept in numpy
columns. Attestations only update those columns and remember which
validators changed. `apply` later turns the changes into per-block balance
deltas in one vectorised step, so a slot's worth of attestations costs one
pass however many validators they carry.

The weight of a message is the validator's effective balance in the
justified checkpoint state when the validator is active and not slashed
there, else zero. Equivocating validators weigh zero and their messages are
never updated again, as the spec's `update_latest_messages` and
`get_attestation_score` require.
"""

from typing import NamedTuple

import numpy as np

NO_NODE = -1
NO_EPOCH = -1


class LatestMessage(NamedTuple):
    """A validator's latest message: target epoch and voted block root."""

    epoch: int
    root: bytes


class VoteTracker:
    """Latest messages and the balances they carry, as numpy columns by validator index."""

    def __init__(self) -> None:
        self.epochs = np.full(0, NO_EPOCH, dtype=np.int64)
        self.nodes = np.full(0, NO_NODE, dtype=np.int64)
        self.equivocating = np.zeros(0, dtype=bool)
        self.balances = np.zeros(0, dtype=np.int64)
        # What `node_votes` currently contains for each validator.
        self._applied_nodes = np.full(0, NO_NODE, dtype=np.int64)
        self._applied_balances = np.zeros(0, dtype=np.int64)
        self.node_votes = np.zeros(0, dtype=np.int64)
        self._dirty: list[np.ndarray] = []
        self._rebuild = False

    def __len__(self) -> int:
        return len(self.epochs)

    def _grow(self, count: int) -> None:
        if count <= len(self.epochs):
            return
        extra = max(count, 2 * len(self.epochs)) - len(self.epochs)
        self.epochs = np.concatenate([self.epochs, np.full(extra, NO_EPOCH, dtype=np.int64)])
        self.nodes = np.concatenate([self.nodes, np.full(extra, NO_NODE, dtype=np.int64)])
        self.equivocating = np.concatenate([self.equivocating, np.zeros(extra, dtype=bool)])
        self.balances = np.concatenate([self.balances, np.zeros(extra, dtype=np.int64)])
        self._applied_nodes = np.concatenate(
            [self._applied_nodes, np.full(extra, NO_NODE, dtype=np.int64)]
        )
        self._applied_balances = np.concatenate(
            [self._applied_balances, np.zeros(extra, dtype=np.int64)]
        )

    def add_node(self) -> None:
        """Make room for one more block at the end of the tree."""
        self.node_votes = np.append(self.node_votes, np.int64(0))

    def process_attestation(self, indices: np.ndarray, target_epoch: int, node: int) -> int:
        """Record a message for block `node` at `target_epoch` from `indices`.

        Only validators whose stored message has an older target epoch (or none) and
        who are not equivocating are updated. Returns how many were updated.
        """
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            return 0
        self._grow(int(indices.max()) + 1)
        newer = (self.epochs[indices] < target_epoch) & ~self.equivocating[indices]
        updated = indices[newer]
        self.epochs[updated] = target_epoch
        self.nodes[updated] = node
        self._dirty.append(updated)
        return int(updated.size)

    def set_equivocating(self, indices: np.ndarray) -> None:
        """Remove the weight of `indices` for good."""
        indices = np.asarray(indices, dtype=np.int64)
        if indices.size == 0:
            return
        self._grow(int(indices.max()) + 1)
        self.equivocating[indices] = True
        self._dirty.append(indices)

    def set_balances(self, balances: np.ndarray) -> None:
        """Replace the weight of every validator (index = validator index)."""
        self._grow(len(balances))
        self.balances = np.zeros(len(self.epochs), dtype=np.int64)
        self.balances[: len(balances)] = balances
        self._rebuild = True

    def latest_message_epoch(self, index: int) -> int | None:
        if index >= len(self.epochs) or self.epochs[index] == NO_EPOCH:
            return None
        return int(self.epochs[index])

    def apply(self) -> np.ndarray:
        """Fold pending changes into `node_votes` and return it (balance voting each block)."""
        if self._rebuild:
            self._rebuild_all()
        elif self._dirty:
            self._apply_dirty()
        return self.node_votes

    def _weights_of(self, indices: np.ndarray | slice) -> tuple[np.ndarray, np.ndarray]:
        nodes = self.nodes[indices]
        counted = (nodes != NO_NODE) & ~self.equivocating[indices]
        nodes = np.where(counted, nodes, NO_NODE)
        balances = np.where(counted, self.balances[indices], 0)
        return nodes, balances

    def _rebuild_all(self) -> None:
        nodes, balances = self._weights_of(slice(None))
        node_votes = np.zeros(len(self.node_votes), dtype=np.int64)
        counted = nodes != NO_NODE
        np.add.at(node_votes, nodes[counted], balances[counted])
        self.node_votes = node_votes
        self._applied_nodes = nodes
        self._applied_balances = balances
        self._dirty.clear()
        self._rebuild = False

    def _apply_dirty(self) -> None:
        indices = np.sort(np.concatenate(self._dirty))
        if indices.size > 1:
            indices = indices[np.concatenate(([True], indices[1:] != indices[:-1]))]
        self._dirty.clear()
        old_nodes = self._applied_nodes[indices]
        old_balances = self._applied_balances[indices]
        counted = old_nodes != NO_NODE
        np.subtract.at(self.node_votes, old_nodes[counted], old_balances[counted])
        nodes, balances = self._weights_of(indices)
        counted = nodes != NO_NODE
        np.add.at(self.node_votes, nodes[counted], balances[counted])
        self._applied_nodes[indices] = nodes
        self._applied_balances[indices] = balances

    def remap_nodes(self, remap: np.ndarray, node_count: int) -> None:
        """Rewrite node indices after pruning; `remap[old]` is the new index or -1."""
        self.apply()
        kept = remap >= 0
        node_votes = np.zeros(node_count, dtype=np.int64)
        node_votes[remap[kept]] = self.node_votes[: len(remap)][kept]
        self.node_votes = node_votes

        def rewrite(nodes: np.ndarray) -> np.ndarray:
            valid = nodes != NO_NODE
            return np.where(valid, remap[np.where(valid, nodes, 0)], NO_NODE)

        self.nodes = rewrite(self.nodes)
        self._applied_nodes = rewrite(self._applied_nodes)
        self._applied_balances = np.where(self._applied_nodes != NO_NODE,
                                          self._applied_balances, 0)
