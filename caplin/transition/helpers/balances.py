"""Batched balance changes: many increase/decrease calls, one write to the state tree.

Setting one element of `state.balances` through remerkleable views rebuilds the
list's 38-level path and then the state's, which costs hundreds of microseconds.
Block rewards touch hundreds of balances (a sync aggregate pays or penalizes
every committee member), so `BalanceChanges` keeps the new values in a dict and
writes every changed chunk in a single pass over the tree.
"""

import bisect
from collections.abc import Sequence
from typing import Any

from remerkleable.tree import Node, PairNode, RootNode, zero_node

from caplin.config.constants import UINT64_MAX

# Four uint64 balances share one 32-byte chunk of the list's tree.
_PER_CHUNK = 4


class BalanceChanges:
    """Queued `increase_balance` / `decrease_balance` calls on one state.

    Each validator's changes apply in call order, so a decrease that reaches zero
    clamps exactly as the spec's one-by-one calls do. Nothing reaches the state until
    `write()`, so `state.balances` returns the old values in between, while
    `balance(index)` returns the queued ones.
    """

    def __init__(self, spec: Any, state: Any) -> None:
        self._state = state
        self._load()

    def _load(self) -> None:
        self._balances = self._state.balances
        self._count = len(self._balances)
        self._contents = self._balances.get_backing().get_left()
        self._depth = type(self._balances).contents_depth()
        self._values: dict[int, int] = {}

    def balance(self, index: int) -> int:
        """Return the balance of validator `index` with the queued changes applied.

        Raises:
            IndexError: no validator has `index`.
        """
        index = int(index)
        value = self._values.get(index)
        if value is not None:
            return value
        if not 0 <= index < self._count:
            raise IndexError(f"validator index {index} out of range for {self._count} balances")
        chunk = _leaf(self._contents, self._depth, index // _PER_CHUNK).root
        offset = (index % _PER_CHUNK) * 8
        return int.from_bytes(chunk[offset : offset + 8], "little")

    def balances(self, indices: Sequence[int]) -> list[int]:
        """Return `balance(index)` of each of `indices`, reading the tree in one pass.

        Raises:
            IndexError: no validator has one of `indices`.
        """
        indices = [int(index) for index in indices]
        for index in indices:
            if not 0 <= index < self._count:
                raise IndexError(f"validator index {index} out of range for {self._count} balances")
        positions = sorted({index // _PER_CHUNK for index in indices if index not in self._values})
        chunks = dict(
            zip(positions, _leaves_at(self._contents, self._depth, positions), strict=True)
        )
        values = []
        for index in indices:
            value = self._values.get(index)
            if value is None:
                offset = (index % _PER_CHUNK) * 8
                value = int.from_bytes(chunks[index // _PER_CHUNK][offset : offset + 8], "little")
            values.append(value)
        return values

    def set(self, index: int, value: int) -> None:
        index = int(index)
        if not 0 <= index < self._count:
            raise IndexError(f"validator index {index} out of range for {self._count} balances")
        self._values[index] = int(value)

    def increase(self, index: int, delta: int) -> None:
        index = int(index)
        self._values[index] = self.balance(index) + int(delta)

    def decrease(self, index: int, delta: int) -> None:
        index = int(index)
        current = self.balance(index)
        self._values[index] = current - int(delta) if delta < current else 0

    def write(self) -> None:
        """Store every changed balance in the state, then start a new batch.

        Raises:
            ValueError: a balance exceeds the uint64 range (nothing is written then).
        """
        if not self._values:
            return
        for index, value in self._values.items():
            if value > UINT64_MAX:
                raise ValueError(f"balance of validator {index} overflows uint64: {value}")
        list_type = type(self._balances)
        backing = self._balances.get_backing()
        depth, contents = self._depth, self._contents

        positions = sorted({index // _PER_CHUNK for index in self._values})
        chunks = {
            position: bytearray(root)
            for position, root in zip(
                positions, _leaves_at(contents, depth, positions), strict=True
            )
        }
        for index, value in self._values.items():
            chunk = chunks[index // _PER_CHUNK]
            offset = (index % _PER_CHUNK) * 8
            chunk[offset : offset + 8] = value.to_bytes(8, "little")
        updates = sorted((position, RootNode(bytes(chunk))) for position, chunk in chunks.items())
        new_contents = _patch(contents, depth, updates)
        self._state.balances = list_type.view_from_backing(
            PairNode(new_contents, backing.get_right())
        )
        self._load()


def _children(node: Node, height: int) -> tuple[Node, Node]:
    if isinstance(node, PairNode):
        return node.get_left(), node.get_right()
    child = zero_node(height - 1)
    return child, child


def _leaf(node: Node, depth: int, position: int) -> Node:
    for height in range(depth, 0, -1):
        node = _children(node, height)[(position >> (height - 1)) & 1]
    return node


def _leaves_at(node: Node, depth: int, positions: list[int]) -> list[bytes]:
    """Return the roots of the leaves at the sorted `positions`, visiting shared paths once."""
    roots: list[bytes] = []

    def collect(subtree: Node, height: int, base: int, low: int, high: int) -> None:
        if height == 0:
            roots.extend([bytes(subtree.root)] * (high - low))
            return
        left, right = _children(subtree, height)
        middle = base + (1 << (height - 1))
        split = bisect.bisect_left(positions, middle, low, high)
        if low < split:
            collect(left, height - 1, base, low, split)
        if split < high:
            collect(right, height - 1, middle, split, high)

    if positions:
        collect(node, depth, 0, 0, len(positions))
    return roots


def _patch(node: Node, depth: int, updates: list[tuple[int, Node]]) -> Node:
    """Return `node` with the leaves at the sorted `updates` positions replaced."""
    positions = [position for position, _ in updates]

    def patch(subtree: Node, height: int, base: int, low: int, high: int) -> Node:
        if height == 0:
            return updates[low][1]
        left, right = _children(subtree, height)
        middle = base + (1 << (height - 1))
        split = bisect.bisect_left(positions, middle, low, high)
        if low < split:
            left = patch(left, height - 1, base, low, split)
        if split < high:
            right = patch(right, height - 1, middle, split, high)
        return PairNode(left, right)

    return patch(node, depth, 0, 0, len(updates))
