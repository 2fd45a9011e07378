"""Bulk reads and writes between remerkleable trees and numpy arrays.

Reading a registry of a million validators through remerkleable views, `encode_bytes` or
`decode_bytes` takes minutes (`encode_bytes`: about 190 s of wall time on a loaded 2-vCPU
machine). These functions walk the tree nodes level by level instead, read leaf chunks as
bytes, and build or patch trees bottom-up, hashing new nodes as they are made.

Trees are immutable and shared between state copies, so two versions of a list can be
compared node by node: `changed_leaves` visits only subtrees whose node objects differ.
"""

import bisect
from collections.abc import Sequence
from hashlib import sha256
from typing import Any

import numpy as np
from remerkleable.tree import Node, PairNode, RootNode, zero_node

CHUNK_SIZE = 32


def children(node: Node, depth: int) -> tuple[Node, Node]:
    """Return the two children of a node `depth` levels above the leaves.

    A zero subtree may be a single leaf node, and then both children are zero subtrees.
    """
    if type(node) is PairNode:
        return node.left, node.right
    if node.is_leaf():
        child = zero_node(depth - 1)
        return child, child
    return node.get_left(), node.get_right()


def leaf_nodes(node: Node, depth: int, count: int) -> list[Node]:
    """Return the first `count` nodes at `depth` levels below `node`, left to right."""
    if count == 0:
        return []
    level = [node]
    for remaining in range(depth, 0, -1):
        span = 1 << (remaining - 1)
        needed = (count + span - 1) // span
        below: list[Node] = []
        extend = below.extend
        for parent in level:
            if type(parent) is PairNode:
                extend((parent.left, parent.right))
            else:
                extend(children(parent, remaining))
        level = below[:needed]
    return level


def read_basic_list(view: Any, dtype: Any) -> np.ndarray:
    """Return the elements of a list of basic values (uint8, uint64, ...) as a numpy array."""
    list_type = type(view)
    length = len(view)
    item_size = np.dtype(dtype).itemsize
    chunk_count = (length * item_size + CHUNK_SIZE - 1) // CHUNK_SIZE
    contents = view.get_backing().get_left()
    leaves = leaf_nodes(contents, list_type.contents_depth(), chunk_count)
    data = b"".join([leaf.root for leaf in leaves])
    return np.frombuffer(data, dtype=dtype, count=length).copy()


def read_basic_vector(view: Any, dtype: Any) -> np.ndarray:
    """Return the elements of a vector of basic values as a numpy array."""
    vector_type = type(view)
    length = vector_type.vector_length()
    item_size = np.dtype(dtype).itemsize
    chunk_count = (length * item_size + CHUNK_SIZE - 1) // CHUNK_SIZE
    leaves = leaf_nodes(view.get_backing(), vector_type.tree_depth(), chunk_count)
    data = b"".join([leaf.root for leaf in leaves])
    return np.frombuffer(data, dtype=dtype, count=length).copy()


def build_tree(leaves: Sequence[Node], depth: int) -> Node:
    """Return a subtree of `depth` levels whose first leaves are `leaves`, zero-padded.

    Every new inner node gets its root computed here, so hashing the tree later costs no
    recursion through the new nodes.
    """
    if len(leaves) > (1 << depth):
        raise ValueError(f"{len(leaves)} leaves do not fit in a tree of depth {depth}")
    if not leaves:
        return zero_node(depth)
    level = list(leaves)
    for height in range(depth):
        if len(level) % 2:
            level.append(zero_node(height))
        parents = []
        append = parents.append
        for i in range(0, len(level), 2):
            left = level[i]
            right = level[i + 1]
            parent = PairNode(left, right)
            parent._root = sha256(left.merkle_root() + right.merkle_root()).digest()
            append(parent)
        level = parents
    return level[0]


def _chunk_nodes(data: bytes) -> list[Node]:
    if len(data) % CHUNK_SIZE:
        data += b"\x00" * (CHUNK_SIZE - len(data) % CHUNK_SIZE)
    return [RootNode(data[i : i + CHUNK_SIZE]) for i in range(0, len(data), CHUNK_SIZE)]


def _length_node(length: int) -> Node:
    return RootNode(length.to_bytes(CHUNK_SIZE, "little"))


def basic_list_from_array(list_type: Any, values: np.ndarray) -> Any:
    """Return a new `list_type` view holding `values` (already of the element's dtype)."""
    contents = build_tree(_chunk_nodes(values.tobytes()), list_type.contents_depth())
    return list_type.view_from_backing(PairNode(contents, _length_node(len(values))))


def patch_tree(node: Node, depth: int, updates: Sequence[tuple[int, Node]]) -> Node:
    """Return `node` with the leaves at the given positions replaced.

    `updates` is sorted by position; only the paths to those leaves get new nodes.
    """
    positions = [position for position, _ in updates]

    def patch(subtree: Node, height: int, base: int, lo: int, hi: int) -> Node:
        if height == 0:
            return updates[lo][1]
        left, right = children(subtree, height)
        middle = base + (1 << (height - 1))
        split = bisect.bisect_left(positions, middle, lo, hi)
        if lo < split:
            left = patch(left, height - 1, base, lo, split)
        if split < hi:
            right = patch(right, height - 1, middle, split, hi)
        return PairNode(left, right)

    if not updates:
        return node
    return patch(node, depth, 0, 0, len(updates))


def patch_basic_list(view: Any, old: np.ndarray, new: np.ndarray) -> Any:
    """Return a `type(view)` view equal to `new`, sharing the unchanged chunks of `view`.

    `old` must hold the current elements of `view`, and `new` has the same length.
    """
    list_type = type(view)
    if len(old) != len(new):
        raise ValueError(f"cannot patch a list of {len(old)} elements to {len(new)}")
    per_chunk = CHUNK_SIZE // new.dtype.itemsize
    padded = -len(new) % per_chunk
    old_chunks = np.concatenate([old, np.zeros(padded, old.dtype)]).reshape(-1, per_chunk)
    new_chunks = np.concatenate([new, np.zeros(padded, new.dtype)]).reshape(-1, per_chunk)
    changed = np.flatnonzero((old_chunks != new_chunks).any(axis=1))
    if len(changed) == 0:
        return view
    if len(changed) * 4 > len(new_chunks):
        return basic_list_from_array(list_type, new)
    updates = [(int(i), RootNode(new_chunks[i].tobytes())) for i in changed]
    backing = view.get_backing()
    contents = patch_tree(backing.get_left(), list_type.contents_depth(), updates)
    return list_type.view_from_backing(PairNode(contents, backing.get_right()))


def changed_leaves(old: Node, new: Node, depth: int, count: int) -> list[int]:
    """Return the positions below `count` whose leaf (at `depth`) differs between two trees.

    Identical node objects, or nodes with equal cached roots, are skipped without descent.
    """
    found: list[int] = []

    def known_root(node: Node) -> bytes | None:
        if type(node) is PairNode:
            return node._root
        if node.is_leaf():
            return node.root
        return None

    def same(a: Node, b: Node) -> bool:
        if a is b:
            return True
        root_a = known_root(a)
        return root_a is not None and root_a == known_root(b)

    def visit(a: Node, b: Node, height: int, base: int) -> None:
        if base >= count or same(a, b):
            return
        if height == 0:
            found.append(base)
            return
        a_left, a_right = children(a, height)
        b_left, b_right = children(b, height)
        visit(a_left, b_left, height - 1, base)
        visit(a_right, b_right, height - 1, base + (1 << (height - 1)))

    visit(old, new, depth, 0)
    return found


def refresh_basic_list(view: Any, old_backing: Node, old_values: np.ndarray) -> np.ndarray:
    """Return the elements of `view`, reading only the chunks that changed since an earlier
    version of it.

    `old_values` are the elements of that earlier version and `old_backing` its backing node.
    """
    backing = view.get_backing()
    if backing is old_backing:
        return old_values
    length = len(view)
    if length != len(old_values):
        return read_basic_list(view, old_values.dtype)
    per_chunk = CHUNK_SIZE // old_values.dtype.itemsize
    chunk_count = (length + per_chunk - 1) // per_chunk
    depth = type(view).contents_depth()
    contents = backing.get_left()
    changed = changed_leaves(old_backing.get_left(), contents, depth, chunk_count)
    values = old_values.copy()
    for position in changed:
        node = contents
        for height in range(depth, 0, -1):
            node = children(node, height)[(position >> (height - 1)) & 1]
        chunk = np.frombuffer(node.root, dtype=values.dtype)
        start = position * per_chunk
        end = min(start + per_chunk, length)
        values[start:end] = chunk[: end - start]
    return values
