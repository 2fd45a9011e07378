"""numpy columns of the validator registry, kept in step with the tree incrementally.

The columns of one registry tree are cached by the identity of its contents node. A
registry that differs from a cached one by a few validators (a block's slashings, exits
or deposits) is read by diffing the two trees, so only the changed validators are decoded.
Writing back replaces only the validators whose fields changed.
"""

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from remerkleable.tree import Node, PairNode, RootNode

from caplin.config.constants import COMPOUNDING_WITHDRAWAL_PREFIX
from caplin.transition.epoch.tree_arrays import changed_leaves, children, leaf_nodes, patch_tree

# Leaf positions of the Validator container's fields (a depth-3 tree of 8 fields).
_EFFECTIVE_BALANCE = 2
_SLASHED = 3
_ACTIVATION_ELIGIBILITY_EPOCH = 4
_ACTIVATION_EPOCH = 5
_EXIT_EPOCH = 6
_WITHDRAWABLE_EPOCH = 7
_CACHE_CAPACITY = 4


@dataclass
class ValidatorColumns:
    """One numpy array per validator field used by epoch processing, indexed by validator.

    `compounding` is whether the withdrawal credentials have the 0x02 prefix, and
    `pubkey_prefix` is the first 8 bytes of the public key, little-endian, for lookups.
    """

    effective_balance: np.ndarray
    slashed: np.ndarray
    activation_eligibility_epoch: np.ndarray
    activation_epoch: np.ndarray
    exit_epoch: np.ndarray
    withdrawable_epoch: np.ndarray
    compounding: np.ndarray
    pubkey_prefix: np.ndarray

    def __len__(self) -> int:
        return len(self.effective_balance)

    def copy(self) -> "ValidatorColumns":
        return ValidatorColumns(*(getattr(self, f.name).copy() for f in fields(self)))

    def index_of_pubkey(self, validators: Any, pubkey: bytes) -> int | None:
        """Return the lowest validator index with `pubkey`, or None."""
        prefix = int.from_bytes(pubkey[:8], "little")
        for index in np.flatnonzero(self.pubkey_prefix == prefix):
            if bytes(validators[int(index)].pubkey) == pubkey:
                return int(index)
        return None


_RECORD = np.dtype(
    [
        ("pubkey_prefix", "<u8"),
        ("compounding", "u1"),
        ("effective_balance", "<u8"),
        ("slashed", "u1"),
        ("activation_eligibility_epoch", "<u8"),
        ("activation_epoch", "<u8"),
        ("exit_epoch", "<u8"),
        ("withdrawable_epoch", "<u8"),
    ]
)


def _decode(nodes: list[Node]) -> np.ndarray:
    """Decode validator subtrees into `_RECORD` rows."""
    # caplin.types.tree keeps a decoded validator as one node holding its SSZ bytes in
    # `_packed`, so those bytes are parsed directly instead of expanding the subtrees.
    packed = [getattr(node, "_packed", None) for node in nodes]
    unpacked = [position for position, data in enumerate(packed) if data is None]
    if not unpacked:
        return _decode_ssz(b"".join(packed))  # type: ignore[arg-type]
    records = np.zeros(len(nodes), dtype=_RECORD)
    if len(unpacked) < len(nodes):
        has_bytes = np.array([data is not None for data in packed])
        records[has_bytes] = _decode_ssz(b"".join(data for data in packed if data is not None))
    subtrees = [nodes[position] for position in unpacked]
    try:
        records[unpacked] = _decode_pairs(subtrees)
    except AttributeError:
        # Some subtree is not made of PairNodes (a zero subtree, for example).
        records[unpacked] = _decode_pairs([_expand_validator(node) for node in subtrees])
    return records


# Offsets of the fields in a serialized Validator (121 bytes).
_SSZ_SIZE = 121
_SSZ_OFFSETS = {
    "effective_balance": 80,
    "activation_eligibility_epoch": 89,
    "activation_epoch": 97,
    "exit_epoch": 105,
    "withdrawable_epoch": 113,
}


def _decode_ssz(data: bytes) -> np.ndarray:
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, _SSZ_SIZE)
    records = np.zeros(len(rows), dtype=_RECORD)
    records["pubkey_prefix"] = rows[:, 0:8].copy().view("<u8").reshape(-1)
    records["compounding"] = rows[:, 48] == COMPOUNDING_WITHDRAWAL_PREFIX[0]
    records["slashed"] = rows[:, 88]
    for name, offset in _SSZ_OFFSETS.items():
        records[name] = rows[:, offset : offset + 8].copy().view("<u8").reshape(-1)
    return records


def _expand(node: Node, depth: int) -> Node:
    """Return `node` rebuilt from PairNodes down to `depth` levels."""
    if depth == 0:
        return node
    left, right = children(node, depth)
    return PairNode(_expand(left, depth - 1), _expand(right, depth - 1))


def _expand_validator(node: Node) -> Node:
    tree = _expand(node, 3)
    keys = tree.left.left
    pubkey = _expand(keys.left, 1)
    return PairNode(PairNode(PairNode(pubkey, keys.right), tree.left.right), tree.right)


def _decode_pairs(nodes: list[Node]) -> np.ndarray:
    parts: list[bytes] = []
    append = parts.append
    compounding_prefix = COMPOUNDING_WITHDRAWAL_PREFIX[0]
    for node in nodes:
        left, right = node.left, node.right
        keys, balances = left.left, left.right
        activations, exits = right.left, right.right
        credentials = keys.right.root
        append(keys.left.left.root[:8])
        append(b"\x01" if credentials[0] == compounding_prefix else b"\x00")
        append(balances.left.root[:8])
        append(balances.right.root[:1])
        append(activations.left.root[:8])
        append(activations.right.root[:8])
        append(exits.left.root[:8])
        append(exits.right.root[:8])
    return np.frombuffer(b"".join(parts), dtype=_RECORD, count=len(nodes))


def _columns_from_records(records: np.ndarray) -> ValidatorColumns:
    return ValidatorColumns(
        effective_balance=records["effective_balance"].copy(),
        slashed=records["slashed"].astype(bool),
        activation_eligibility_epoch=records["activation_eligibility_epoch"].copy(),
        activation_epoch=records["activation_epoch"].copy(),
        exit_epoch=records["exit_epoch"].copy(),
        withdrawable_epoch=records["withdrawable_epoch"].copy(),
        compounding=records["compounding"].astype(bool),
        pubkey_prefix=records["pubkey_prefix"].copy(),
    )


class _Cache:
    """Columns of recently seen registry trees, keyed by the contents node's identity.

    Not locked: two threads racing on it can only lose an entry, since every entry's columns
    belong to the node stored with them and callers get copies.
    """

    def __init__(self) -> None:
        self._entries: list[tuple[Node, ValidatorColumns]] = []

    def latest(self) -> tuple[Node, ValidatorColumns] | None:
        return self._entries[-1] if self._entries else None

    def find(self, contents: Node) -> ValidatorColumns | None:
        for node, columns in self._entries:
            if node is contents:
                return columns
        return None

    def store(self, contents: Node, columns: ValidatorColumns) -> None:
        self._entries = [entry for entry in self._entries if entry[0] is not contents]
        self._entries.append((contents, columns))
        del self._entries[:-_CACHE_CAPACITY]

    def clear(self) -> None:
        self._entries.clear()


_cache = _Cache()


def clear_cache() -> None:
    """Forget every cached registry (for tests)."""
    _cache.clear()


def read_validator_columns(validators: Any) -> ValidatorColumns:
    """Return a private, writable copy of the columns of `validators` (a registry view)."""
    contents = validators.get_backing().get_left()
    depth = type(validators).contents_depth()
    count = len(validators)
    cached = _cache.find(contents)
    if cached is not None and len(cached) == count:
        return cached.copy()

    latest = _cache.latest()
    if latest is not None and len(latest[1]) <= count:
        old_node, old_columns = latest
        changed = changed_leaves(old_node, contents, depth, count)
        if len(changed) * 8 < count:
            columns = _extend(old_columns, count)
            nodes = leaf_nodes_at(contents, depth, changed)
            _assign(columns, np.array(changed, dtype=np.int64), _decode(nodes))
            _cache.store(contents, columns)
            return columns.copy()

    columns = _columns_from_records(_decode(leaf_nodes(contents, depth, count)))
    _cache.store(contents, columns)
    return columns.copy()


def leaf_nodes_at(root: Node, depth: int, positions: list[int]) -> list[Node]:
    """Return the nodes at the given leaf positions (each a path walk from `root`)."""
    nodes = []
    for position in positions:
        node = root
        for height in range(depth, 0, -1):
            node = children(node, height)[(position >> (height - 1)) & 1]
        nodes.append(node)
    return nodes


def _extend(columns: ValidatorColumns, count: int) -> ValidatorColumns:
    extra = count - len(columns)
    if extra == 0:
        return columns.copy()
    extended = []
    for f in fields(columns):
        column = getattr(columns, f.name)
        extended.append(np.concatenate([column, np.zeros(extra, column.dtype)]))
    return ValidatorColumns(*extended)


def _assign(columns: ValidatorColumns, indices: np.ndarray, records: np.ndarray) -> None:
    fresh = _columns_from_records(records)
    for f in fields(columns):
        getattr(columns, f.name)[indices] = getattr(fresh, f.name)


_WRITABLE = (
    ("effective_balance", _EFFECTIVE_BALANCE),
    ("activation_eligibility_epoch", _ACTIVATION_ELIGIBILITY_EPOCH),
    ("activation_epoch", _ACTIVATION_EPOCH),
    ("exit_epoch", _EXIT_EPOCH),
    ("withdrawable_epoch", _WITHDRAWABLE_EPOCH),
)


def _uint64_leaf(value: int) -> Node:
    return RootNode(int(value).to_bytes(8, "little") + b"\x00" * 24)


def _with_fields(node: Node, leaves: dict[int, Node]) -> Node:
    """Return the validator subtree `node` with the field leaves at the given positions."""
    items = sorted(leaves.items())
    return patch_tree(node, 3, items)


def write_validator_columns(state: Any, before: ValidatorColumns, after: ValidatorColumns) -> None:
    """Store in `state.validators` the epoch and effective-balance fields that differ between
    `before` (the columns read from it) and `after`, then cache `after` for the new tree.

    Only the uint64 fields are written, because epoch processing never changes `slashed`,
    the credentials or the keys.
    """
    if len(before) != len(after):
        raise ValueError(
            f"cannot write registry columns: before has {len(before)} validators, "
            f"after has {len(after)}"
        )
    changed_by_field = {
        position: np.flatnonzero(getattr(before, name) != getattr(after, name))
        for name, position in _WRITABLE
    }
    changed = sorted(set().union(*(set(indices.tolist()) for indices in changed_by_field.values())))
    validators = state.validators
    contents = validators.get_backing().get_left()
    if not changed:
        _cache.store(contents, after)
        return

    depth = type(validators).contents_depth()
    old_nodes = leaf_nodes_at(contents, depth, changed)
    updates = []
    for index, node in zip(changed, old_nodes, strict=True):
        leaves = {}
        for name, position in _WRITABLE:
            value = getattr(after, name)[index]
            if value != getattr(before, name)[index]:
                leaves[position] = _uint64_leaf(int(value))
        updates.append((index, _with_fields(node, leaves)))
    new_contents = patch_tree(contents, depth, updates)
    length_node = validators.get_backing().get_right()
    state.validators = type(validators).view_from_backing(PairNode(new_contents, length_node))
    _cache.store(new_contents, after.copy())
