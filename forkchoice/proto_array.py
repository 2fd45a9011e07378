"""The block tree of fork choice as a proto-array.

Nodes live in flat lists in insertion order, and a parent is always inserted
before its children, so every parent index is smaller than its children's.
Beside that order the tree keeps a depth-first (preorder) layout: the subtree
of a node is one contiguous range of positions. Subtree weights and the count
of viable leaves below each node are then differences of numpy prefix sums,
computed for all nodes at once. Each node's best child is picked with one
sort, and the head is found by pointer doubling along best children. The
result is the head that the spec's `get_head` over `filter_block_tree`
returns:

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
from typing import Any

import numpy as np

GENESIS_EPOCH = 0


class ExecutionStatus(IntEnum):
    """The execution engine's verdict on a block's payload."""

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


class _Column:
    """A numpy array that grows by doubling, for one value per node."""

    def __init__(self, dtype: Any, fill: Any = 0) -> None:
        self._data = np.full(16, fill, dtype=dtype)
        self._fill = fill
        self.size = 0

    def append(self, value: Any) -> None:
        if self.size == len(self._data):
            grown = np.full(2 * len(self._data), self._fill, dtype=self._data.dtype)
            grown[: self.size] = self._data
            self._data = grown
        self._data[self.size] = value
        self.size += 1

    @property
    def values(self) -> np.ndarray:
        """The live part of the column (a view: writes go to the column)."""
        return self._data[: self.size]


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
        self._finalized: tuple[int, int] = (-1, -1)  # (node index, start slot of the epoch)
        # Subtree weights of the last `find_head`, proposer boost included.
        self.weights = np.zeros(0, dtype=np.int64)

        # Numpy columns by node index, for the vectorised parts of `find_head`.
        self._root = _Column(np.dtype("S32"), b"")
        self._parent = _Column(np.int64)
        self._slot = _Column(np.int64)
        self._justified = _Column(np.int64)
        self._unrealized = _Column(np.int64)
        self._child_count = _Column(np.int64)
        self._invalid = _Column(np.bool_)
        # Whether the node's ancestor at the finalized epoch start slot is the finalized block.
        self._finalized_descendant = _Column(np.bool_)
        # Preorder layout: node -> position, position -> node, node -> subtree size.
        self._position = _Column(np.int64)
        self._subtree_size = _Column(np.int64)
        self._order = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.roots)

    def __contains__(self, root: object) -> bool:
        return root in self.indices

    def index(self, root: bytes) -> int:
        """Return the node index of `root`; raises KeyError for an unknown root."""
        return self.indices[root]

    @property
    def finalized_descendant(self) -> np.ndarray:
        """Per node: whether its checkpoint block at the finalized epoch is the finalized block."""
        return self._finalized_descendant.values

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
        self.weights = np.append(self.weights, np.int64(0))
        self._root.append(root)
        self._parent.append(parent)
        self._slot.append(slot)
        self._justified.append(justified_epoch)
        self._unrealized.append(unrealized_justified_epoch)
        self._child_count.append(0)
        self._invalid.append(status == ExecutionStatus.INVALID)
        self._finalized_descendant.append(self._descends_from_finalized(index))
        self._insert_in_order(index, parent)
        if parent >= 0:
            self.children[parent].append(index)
            self._child_count.values[parent] += 1
        return index

    def _insert_in_order(self, index: int, parent: int) -> None:
        if parent < 0:
            self._position.append(0)
            self._subtree_size.append(1)
            self._order = np.array([index], dtype=np.int64)
            return
        positions = self._position.values
        sizes = self._subtree_size.values
        parent_position = int(positions[parent])
        # The new node goes at the end of its parent's subtree range.
        position = parent_position + int(sizes[parent])
        ancestors = (positions <= parent_position) & (positions + sizes > parent_position)
        sizes[ancestors] += 1
        positions[positions >= position] += 1
        self._position.append(position)
        self._subtree_size.append(1)
        self._order = np.insert(self._order, position, index)

    def set_unrealized_justified_epoch(self, index: int, epoch: int) -> None:
        self.unrealized_justified_epochs[index] = epoch
        self._unrealized.values[index] = epoch

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
        start = int(self._position.values[ancestor])
        position = int(self._position.values[index])
        return start <= position < start + int(self._subtree_size.values[ancestor])

    def set_finalized(self, index: int, epoch_start_slot: int) -> None:
        """Recompute `finalized_descendant` for finalized block `index` and its epoch start slot."""
        if self._finalized == (index, epoch_start_slot):
            return
        self._finalized = (index, epoch_start_slot)
        flags = self._finalized_descendant.values
        flags[:] = False
        if index < 0:
            return
        # The finalized block, and the subtrees of its children after the start slot: for
        # those the first ancestor-or-self at or before the start slot is the finalized block.
        by_position = np.zeros(len(self.roots), dtype=bool)
        by_position[int(self._position.values[index])] = True
        for child in self.children[index]:
            if self.slots[child] > epoch_start_slot:
                start = int(self._position.values[child])
                by_position[start : start + int(self._subtree_size.values[child])] = True
        flags[self._order] = by_position

    def _descends_from_finalized(self, node: int) -> bool:
        finalized, start_slot = self._finalized
        if node == finalized:
            return True
        if self.slots[node] <= start_slot:
            return False
        parent = self.parents[node]
        return parent >= 0 and bool(self._finalized_descendant.values[parent])

    def viable_leaves(self, rules: HeadRules) -> np.ndarray:
        """Per node: whether it is a leaf that agrees with the store's checkpoints."""
        # Blocks of an earlier epoch vote with their pulled-up (unrealized) justification.
        earlier_epoch = self._slot.values // self.slots_per_epoch < rules.current_epoch
        voting_source = np.where(earlier_epoch, self._unrealized.values, self._justified.values)
        correct_justified = (
            (rules.justified_epoch == GENESIS_EPOCH)
            | (voting_source == rules.justified_epoch)
            | (voting_source + 2 >= rules.current_epoch)
        )
        correct_finalized = (rules.finalized_epoch == GENESIS_EPOCH) | self.finalized_descendant
        return (self._child_count.values == 0) & correct_justified & correct_finalized

    def find_head(
        self,
        justified_index: int,
        node_votes: Sequence[int] | np.ndarray,
        rules: HeadRules,
        boost_index: int = -1,
        boost_score: int = 0,
    ) -> int:
        """Return the head: the best viable descendant-or-self of the justified block.

        `node_votes[i]` is the balance whose latest message is block `i`; `boost_score` is
        added to `boost_index` and so to every ancestor of it. Leaves `self.weights` set to
        the subtree weights (boost included).
        """
        order = self._order
        starts = self._position.values
        ends = starts + self._subtree_size.values

        def subtree_sums(values_by_node: np.ndarray) -> np.ndarray:
            prefix = np.zeros(len(order) + 1, dtype=np.int64)
            np.cumsum(values_by_node[order], out=prefix[1:])
            return prefix[ends] - prefix[starts]

        votes = np.array(node_votes, dtype=np.int64)
        if boost_index >= 0:
            votes[boost_index] += boost_score
        self.weights = subtree_sums(votes)
        has_viable = subtree_sums(self.viable_leaves(rules).astype(np.int64)) > 0
        eligible = has_viable & ~self._invalid.values
        best_child = self._best_children(eligible)

        # Follow best children down by pointer doubling: after k rounds every entry
        # has moved 2**k steps, and a node without an eligible child points to itself.
        pointer = best_child
        for _ in range(max(1, len(order)).bit_length()):
            pointer = pointer[pointer]
        return int(pointer[justified_index])

    def _best_children(self, eligible: np.ndarray) -> np.ndarray:
        """Per node: its heaviest eligible child (ties to the higher root), else itself."""
        count = len(self.roots)
        best = np.arange(count, dtype=np.int64)
        parents = self._parent.values
        candidates = np.flatnonzero(eligible & (parents >= 0))
        if candidates.size == 0:
            return best
        candidate_parents = parents[candidates]
        only_child = self._child_count.values[candidate_parents] == 1
        best[candidate_parents[only_child]] = candidates[only_child]

        rivals = candidates[~only_child]
        if rivals.size:
            rival_parents = parents[rivals]
            root_rank = np.empty(rivals.size, dtype=np.int64)
            root_rank[np.argsort(self._root.values[rivals], kind="stable")] = np.arange(rivals.size)
            ranked = np.lexsort((root_rank, self.weights[rivals], rival_parents))
            sorted_parents = rival_parents[ranked]
            # The last entry of each parent's run is its best child.
            last = np.ones(ranked.size, dtype=bool)
            last[:-1] = sorted_parents[1:] != sorted_parents[:-1]
            best[sorted_parents[last]] = rivals[ranked][last]
        return best

    def mark_valid(self, index: int) -> None:
        """Record a verified payload: `index` and its optimistic ancestors become VALID."""
        while index >= 0 and self.statuses[index] == ExecutionStatus.OPTIMISTIC:
            self.statuses[index] = ExecutionStatus.VALID
            index = self.parents[index]

    def mark_invalid(self, index: int) -> None:
        """Record an invalid payload: `index` and all its descendants become INVALID."""
        start = int(self._position.values[index])
        subtree = self._order[start : start + int(self._subtree_size.values[index])]
        for node in subtree.tolist():
            self.statuses[node] = ExecutionStatus.INVALID
        self._invalid.values[subtree] = True

    def prune(self, finalized_index: int) -> np.ndarray:
        """Drop every node that is not the finalized block or one of its descendants.

        Returns the map from old to new node indices (-1 for a dropped node), for
        rewriting indices held elsewhere (votes).
        """
        count = len(self.roots)
        remap = np.full(count, -1, dtype=np.int64)
        start = int(self._position.values[finalized_index])
        size = int(self._subtree_size.values[finalized_index])
        kept_nodes = np.sort(self._order[start : start + size])
        remap[kept_nodes] = np.arange(len(kept_nodes))
        keep = kept_nodes.tolist()
        old = (self.roots, self.parents, self.slots, self.justified_epochs,
               self.unrealized_justified_epochs, self.statuses, self.block_hashes)
        finalized, start_slot = self._finalized
        self.__init__(self.slots_per_epoch)  # type: ignore[misc]
        roots, parents, slots, justified, unrealized, statuses, hashes = old
        self._finalized = (int(remap[finalized]) if finalized >= 0 else -1, start_slot)
        for node in keep:
            parent = parents[node] if node != finalized_index else -1
            self.add_node(
                roots[node],
                roots[parent] if parent >= 0 else None,
                slots[node],
                justified[node],
                unrealized[node],
                statuses[node],
                hashes[node],
            )
        return remap
