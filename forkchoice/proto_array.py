"""The block tree of fork choice as a proto-array.

Nodes live in flat lists in insertion order, and a parent is always inserted
before its children, so every parent index is smaller than its children's.
That order lets one reverse pass compute, for every node at once, the subtree
weight, whether the subtree holds a leaf viable for head, and the best
descendant; `find_head` is that pass plus one lookup. The answers are those of
the spec's `get_head` over `filter_block_tree`:

- a leaf is viable when its voting source agrees with the store's justified
  checkpoint (or is at most two epochs old) and the leaf descends from the
  finalized checkpoint block;
- an inner node is kept when at least one leaf below it is viable, whatever
  its own checkpoints are;
- among kept children the heaviest wins, ties going to the higher root;
- children whose execution payload was found invalid are never chosen.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

GENESIS_EPOCH = 0


class ExecutionStatus(IntEnum):
    """What the execution engine said about a block's payload."""

    IRRELEVANT = 0  # no payload: before bellatrix or before the merge transition
    VALID = 1
    OPTIMISTIC = 2  # imported before the engine verified the payload
    INVALID = 3


@dataclass(frozen=True)
class HeadRules:
    """The store values that decide which leaves are viable for head."""

    current_epoch: int
    justified_epoch: int
    finalized_epoch: int


class ProtoArray:
    """The block tree: one node per block, indexed by insertion order."""

    def __init__(self, slots_per_epoch: int) -> None:
        self.slots_per_epoch = slots_per_epoch
        self.roots: list[bytes] = []
        self.indices: dict[bytes, int] = {}
        self.parents: list[int] = []  # -1 for the tree root
        self.slots: list[int] = []
        self.children: list[list[int]] = []
        # Epoch of `current_justified_checkpoint` in the block's post-state.
        self.justified_epochs: list[int] = []
        # Epoch of the justified checkpoint after pulling the post-state up to the next epoch.
        self.unrealized_justified_epochs: list[int] = []
        self.statuses: list[ExecutionStatus] = []
        self.block_hashes: list[bytes] = []
        # Whether the node's ancestor at the finalized epoch start slot is the finalized block.
        self.finalized_descendant: list[bool] = []
        self._finalized: tuple[int, int] = (-1, -1)  # (node index, start slot of the epoch)
        # Subtree weights of the last `find_head`, proposer boost included.
        self.weights: list[int] = []

    def __len__(self) -> int:
        return len(self.roots)

    def __contains__(self, root: object) -> bool:
        return root in self.indices

    def index(self, root: bytes) -> int:
        """Return the node index of `root`; raises KeyError for an unknown root."""
        return self.indices[root]

    def add_node(
        self,
        root: bytes,
        parent_root: bytes | None,
        slot: int,
        justified_epoch: int,
        unrealized_justified_epoch: int,
        status: ExecutionStatus = ExecutionStatus.IRRELEVANT,
        block_hash: bytes = b"",
    ) -> int:
        """Append a block whose parent is already a node (or `None` for the tree root)."""
        parent = self.indices[parent_root] if parent_root is not None else -1
        if parent < 0 and self.roots:
            raise ValueError("only the first node may have no parent")
        index = len(self.roots)
        self.roots.append(root)
        self.indices[root] = index
        self.parents.append(parent)
        self.slots.append(slot)
        self.children.append([])
        self.justified_epochs.append(justified_epoch)
        self.unrealized_justified_epochs.append(unrealized_justified_epoch)
        self.statuses.append(status)
        self.block_hashes.append(block_hash)
        self.weights.append(0)
        if parent >= 0:
            self.children[parent].append(index)
        self.finalized_descendant.append(self._descends_from_finalized(index))
        return index

    def set_unrealized_justified_epoch(self, index: int, epoch: int) -> None:
        self.unrealized_justified_epochs[index] = epoch

    def get_ancestor(self, index: int, slot: int) -> int:
        """Return the closest ancestor-or-self of `index` with a slot at most `slot`.

        When the walk reaches the tree root and the root is still later than `slot`,
        the root is returned: blocks older than the root are no longer in the tree.
        """
        parents = self.parents
        slots = self.slots
        while slots[index] > slot and parents[index] >= 0:
            index = parents[index]
        return index

    def is_ancestor(self, index: int, ancestor: int) -> bool:
        """Return True when `ancestor` is `index` or one of its ancestors."""
        return self.get_ancestor(index, self.slots[ancestor]) == ancestor

    def set_finalized(self, index: int, epoch_start_slot: int) -> None:
        """Recompute `finalized_descendant` for finalized block `index` and its epoch start slot."""
        if self._finalized == (index, epoch_start_slot):
            return
        self._finalized = (index, epoch_start_slot)
        for node in range(len(self.roots)):
            self.finalized_descendant[node] = self._descends_from_finalized(node)

    def _descends_from_finalized(self, node: int) -> bool:
        finalized, start_slot = self._finalized
        if node == finalized:
            return True
        # The first ancestor-or-self at or before the start slot must be the finalized block.
        if self.slots[node] <= start_slot:
            return False
        parent = self.parents[node]
        return parent >= 0 and self.finalized_descendant[parent]

    def find_head(
        self,
        justified_index: int,
        node_votes: Sequence[int],
        rules: HeadRules,
        boost_index: int = -1,
        boost_score: int = 0,
    ) -> int:
        """Return the head: the best viable descendant-or-self of the justified block.

        `node_votes[i]` is the balance whose latest message is block `i`; `boost_score` is
        added to `boost_index` and so to every ancestor of it. Leaves `self.weights` set to
        the subtree weights (boost included).
        """
        count = len(self.roots)
        weights = list(node_votes)
        if boost_index >= 0:
            weights[boost_index] += boost_score
        viable = [False] * count
        best_child = [-1] * count
        best_descendant = list(range(count))

        parents = self.parents
        children = self.children
        roots = self.roots
        statuses = self.statuses
        invalid = ExecutionStatus.INVALID
        for node in range(count - 1, -1, -1):
            best = best_child[node]
            if best >= 0:
                best_descendant[node] = best_descendant[best]
            elif not children[node]:
                viable[node] = self._is_viable_leaf(node, rules)
            parent = parents[node]
            if parent < 0:
                continue
            weight = weights[node]
            weights[parent] += weight
            if not viable[node]:
                continue
            viable[parent] = True
            if statuses[node] == invalid:
                continue
            rival = best_child[parent]
            if (
                rival < 0
                or weight > weights[rival]
                or (weight == weights[rival] and roots[node] > roots[rival])
            ):
                best_child[parent] = node

        self.weights = weights
        return best_descendant[justified_index]

    def _is_viable_leaf(self, node: int, rules: HeadRules) -> bool:
        # Blocks of an earlier epoch vote with their pulled-up (unrealized) justification.
        if self.slots[node] // self.slots_per_epoch < rules.current_epoch:
            voting_source = self.unrealized_justified_epochs[node]
        else:
            voting_source = self.justified_epochs[node]
        correct_justified = (
            rules.justified_epoch == GENESIS_EPOCH
            or voting_source == rules.justified_epoch
            or voting_source + 2 >= rules.current_epoch
        )
        correct_finalized = (
            rules.finalized_epoch == GENESIS_EPOCH or self.finalized_descendant[node]
        )
        return correct_justified and correct_finalized

    def mark_valid(self, index: int) -> None:
        """Record a verified payload: `index` and its optimistic ancestors become VALID."""
        while index >= 0 and self.statuses[index] == ExecutionStatus.OPTIMISTIC:
            self.statuses[index] = ExecutionStatus.VALID
            index = self.parents[index]

    def mark_invalid(self, index: int) -> None:
        """Record an invalid payload: `index` and all its descendants become INVALID."""
        self.statuses[index] = ExecutionStatus.INVALID
        # Descendants have larger indices, so one forward sweep reaches all of them.
        for node in range(index + 1, len(self.roots)):
            parent = self.parents[node]
            if parent >= 0 and self.statuses[parent] == ExecutionStatus.INVALID:
                self.statuses[node] = ExecutionStatus.INVALID

    def prune(self, finalized_index: int) -> np.ndarray:
        """Drop every node that is not the finalized block or one of its descendants.

        Returns the map from old to new node indices (-1 for a dropped node), for
        rewriting indices held elsewhere (votes).
        """
        count = len(self.roots)
        remap = np.full(count, -1, dtype=np.int64)
        keep: list[int] = []
        for node in range(finalized_index, count):
            parent = self.parents[node]
            if node == finalized_index or (parent >= 0 and remap[parent] >= 0):
                remap[node] = len(keep)
                keep.append(node)

        def take(values: list) -> list:
            return [values[node] for node in keep]

        self.roots = take(self.roots)
        self.indices = {root: index for index, root in enumerate(self.roots)}
        self.parents = [int(remap[self.parents[node]]) if node != finalized_index else -1
                        for node in keep]
        self.slots = take(self.slots)
        self.children = [[int(remap[child]) for child in self.children[node]] for node in keep]
        self.justified_epochs = take(self.justified_epochs)
        self.unrealized_justified_epochs = take(self.unrealized_justified_epochs)
        self.statuses = take(self.statuses)
        self.block_hashes = take(self.block_hashes)
        self.finalized_descendant = take(self.finalized_descendant)
        self.weights = take(self.weights)
        finalized, start_slot = self._finalized
        if finalized >= 0:
            self._finalized = (int(remap[finalized]), start_slot)
        return remap
