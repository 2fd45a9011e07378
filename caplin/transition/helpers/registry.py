"""Column arrays of the validator registry, read straight from the SSZ tree.

Reading a field of one validator through an SSZ view costs microseconds, and
the spec reads every validator's epochs and balances several times per slot.
Serializing a large registry is slower still: over 40 s for 100,000 validators
with remerkleable 0.1.28 on a loaded 2-core machine. `validator_table(state)` reads the
validator subtrees' leaf chunks instead, once per registry version. Tree nodes
are immutable and shared between versions, so a registry that differs from a
recently read one by a few validators (a block's slashings, exits, deposits) is
read by comparing the two trees and decoding only the validators that differ.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
from remerkleable.tree import Node, PairNode, zero_node

from caplin.transition.caches import LruCache, validators_key

# Byte layout of one serialized Validator (121 bytes, all fields fixed-size).
_VALIDATOR_SIZE = 121
_RECORD = np.dtype(
    [
        ("pubkey", "V48"),
        ("withdrawal_credentials", "V32"),
        ("effective_balance", "<u8"),
        ("slashed", "u1"),
        ("activation_eligibility_epoch", "<u8"),
        ("activation_epoch", "<u8"),
        ("exit_epoch", "<u8"),
        ("withdrawable_epoch", "<u8"),
    ]
)
# Past this share of changed validators, a full read is cheaper than a tree comparison.
_MAX_CHANGED_SHARE = 0.25


@dataclass(frozen=True)
class ValidatorTable:
    """Read-only numpy columns of one registry version; index = validator index.

    Epochs and balances are uint64, `slashed` is bool. `records` contains every field
    (pubkeys and credentials as raw bytes) in the SSZ layout.
    """

    records: np.ndarray
    effective_balance: np.ndarray
    slashed: np.ndarray
    activation_eligibility_epoch: np.ndarray
    activation_epoch: np.ndarray
    exit_epoch: np.ndarray
    withdrawable_epoch: np.ndarray

    def __len__(self) -> int:
        return len(self.records)

    @property
    def raw(self) -> np.ndarray:
        """The serialized validators as a read-only uint8 array of shape (count, 121)."""
        return self.records.view(np.uint8).reshape(len(self.records), _VALIDATOR_SIZE)

    def pubkey(self, index: int) -> bytes:
        return self.records[index]["pubkey"].tobytes()

    def withdrawal_credentials(self, index: int) -> bytes:
        return self.records[index]["withdrawal_credentials"].tobytes()

    def active_mask(self, epoch: int) -> np.ndarray:
        return (self.activation_epoch <= epoch) & (epoch < self.exit_epoch)


def _table_from_records(records: np.ndarray) -> ValidatorTable:
    records.flags.writeable = False

    def column(name: str) -> np.ndarray:
        values = records[name].copy()
        values.flags.writeable = False
        return values

    slashed = records["slashed"].astype(bool)
    slashed.flags.writeable = False
    return ValidatorTable(
        records=records,
        effective_balance=column("effective_balance"),
        slashed=slashed,
        activation_eligibility_epoch=column("activation_eligibility_epoch"),
        activation_epoch=column("activation_epoch"),
        exit_epoch=column("exit_epoch"),
        withdrawable_epoch=column("withdrawable_epoch"),
    )


_tables: LruCache[ValidatorTable] = LruCache(4)
# The contents nodes of the registries read last, to diff the next version against.
_recent: LruCache[tuple[Node, ValidatorTable]] = LruCache(4)


def clear_tables() -> None:
    _tables.clear()
    _recent.clear()


def validator_table(state: Any) -> ValidatorTable:
    """Return the column table of `state.validators` (cached per registry root)."""
    validators = state.validators
    return _tables.get_or_compute(validators_key(state), lambda: _read(validators))


def _read(validators: Any) -> ValidatorTable:
    contents = validators.get_backing().get_left()
    depth = type(validators).contents_depth()
    count = len(validators)
    table = _read_by_diff(contents, depth, count)
    if table is None:
        nodes = _leaves(contents, depth, count)
        table = _table_from_records(_decode(nodes))
    _recent.get_or_compute(id(contents), lambda: (contents, table))
    return table


def _read_by_diff(contents: Node, depth: int, count: int) -> ValidatorTable | None:
    """Return the table by patching the most recent smaller-or-equal registry, if cheap."""
    for old_contents, old_table in reversed(_recent.values()):
        if len(old_table) > count:
            continue
        old_count = len(old_table)
        changed = _changed_positions(old_contents, contents, depth, old_count)
        if len(changed) > _MAX_CHANGED_SHARE * max(count, 1):
            return None
        positions = changed + list(range(old_count, count))
        records = np.empty(count, dtype=_RECORD)
        records[:old_count] = old_table.records
        if positions:
            records[positions] = _decode([_leaf_at(contents, depth, p) for p in positions])
        return _table_from_records(records)
    return None


def _children(node: Node, height: int) -> tuple[Node, Node]:
    """Return the children of a node `height` levels above the leaves (zero nodes included)."""
    if isinstance(node, PairNode):
        return node.get_left(), node.get_right()
    child = zero_node(height - 1)
    return child, child


def _leaves(node: Node, depth: int, count: int) -> list[Node]:
    """Return the first `count` nodes `depth` levels below `node`, left to right."""
    level = [node]
    for height in range(depth, 0, -1):
        span = 1 << (height - 1)
        needed = (count + span - 1) // span
        below: list[Node] = []
        for parent in level:
            below.extend(_children(parent, height))
        level = below[:needed]
    return level[:count]


def _leaf_at(node: Node, depth: int, position: int) -> Node:
    for height in range(depth, 0, -1):
        node = _children(node, height)[(position >> (height - 1)) & 1]
    return node


def _same(a: Node, b: Node) -> bool:
    if a is b:
        return True
    root_a = getattr(a, "_root", None)
    return root_a is not None and root_a == getattr(b, "_root", None)


def _changed_positions(old: Node, new: Node, depth: int, count: int) -> list[int]:
    """Return the positions below `count` whose subtrees differ, skipping shared subtrees."""
    found: list[int] = []

    def visit(a: Node, b: Node, height: int, base: int) -> None:
        if base >= count or _same(a, b):
            return
        if height == 0:
            found.append(base)
            return
        a_left, a_right = _children(a, height)
        b_left, b_right = _children(b, height)
        half = 1 << (height - 1)
        visit(a_left, b_left, height - 1, base)
        visit(a_right, b_right, height - 1, base + half)

    visit(old, new, depth, 0)
    return found


def _validator_bytes(node: Node) -> bytes:
    """Return the 121 SSZ bytes of one Validator subtree."""
    packed = getattr(node, "_packed", None)
    if packed is not None:
        # A container kept as its SSZ bytes by caplin.types.tree. Nodes are immutable, so the
        # bytes stay right, and reading them avoids expanding the subtree.
        return packed
    keys, balances = node.get_left().get_left(), node.get_left().get_right()
    activations, exits = node.get_right().get_left(), node.get_right().get_right()
    pubkey = keys.get_left()
    return b"".join(
        (
            pubkey.get_left().root,
            pubkey.get_right().root[:16],
            keys.get_right().root,
            balances.get_left().root[:8],
            balances.get_right().root[:1],
            activations.get_left().root[:8],
            activations.get_right().root[:8],
            exits.get_left().root[:8],
            exits.get_right().root[:8],
        )
    )


def _decode(nodes: list[Node]) -> np.ndarray:
    data = b"".join([_validator_bytes(node) for node in nodes])
    return np.frombuffer(data, dtype=_RECORD, count=len(nodes)).copy()
