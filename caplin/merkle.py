"""Generalized indices and Merkle proofs over remerkleable SSZ views.

A generalized index (gindex) numbers the nodes of a binary Merkle tree: the
root is 1 and the children of node `i` are `2i` and `2i + 1`. A branch for a
leaf at gindex `g` lists the sibling roots from the leaf up to (not including)
the root, so its length is `floorlog2(g)`.

Multiproofs follow the SSZ "merkle proofs" document of the consensus specs:
the helper indices of a set of leaves are the siblings needed to recompute the
root, sorted in decreasing gindex order.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from remerkleable.core import View

from caplin.crypto.hash import sha256

ZERO_ROOT = b"\x00" * 32


def floorlog2(value: int) -> int:
    """Return the index of the highest set bit of `value` (which must be positive)."""
    if value < 1:
        raise ValueError(f"floorlog2 of a non-positive value {value}")
    return value.bit_length() - 1


def get_subtree_index(gindex: int) -> int:
    """Return the position of `gindex` among the nodes at its depth."""
    return gindex % (1 << floorlog2(gindex))


def concat_generalized_indices(*indices: int) -> int:
    """Return the gindex of a path that walks each of `indices` in turn from the root."""
    result = 1
    for index in indices:
        depth = floorlog2(index)
        result = (result << depth) | (index ^ (1 << depth))
    return result


def get_generalized_index(typ: Any, *path: Any) -> int:
    """Return the gindex of the node reached from SSZ type `typ` along `path`.

    A path item is a field name (containers), an element index (lists, vectors
    and bitfields) or `"__len__"` (the length mix-in of a list). Raises
    `KeyError` when an item does not exist in the type.
    """
    gindex = 1
    for key in path:
        gindex = concat_generalized_indices(gindex, int(typ.key_to_static_gindex(key)))
        typ = typ.navigate_type(key)
    return gindex


def compute_merkle_proof(obj: View, gindex: int) -> list[bytes]:
    """Return the branch proving the node at `gindex` of `obj`, leaf level first."""
    root_node = obj.get_backing()
    branch = []
    index = gindex
    while index > 1:
        branch.append(bytes(root_node.getter(index ^ 1).merkle_root()))
        index >>= 1
    return branch


def get_merkle_node(obj: View, gindex: int) -> bytes:
    """Return the root of the subtree at `gindex` of `obj`."""
    return bytes(obj.get_backing().getter(gindex).merkle_root())


def compute_merkle_root(leaf: bytes, branch: Sequence[bytes], gindex: int) -> bytes:
    """Return the root reached by hashing `leaf` up `branch` from position `gindex`.

    Only the lowest `len(branch)` bits of `gindex` choose left or right, so a
    gindex deeper than the branch describes a proof into a subtree.
    """
    node = bytes(leaf)
    for depth, sibling in enumerate(branch):
        if (gindex >> depth) & 1:
            node = sha256(bytes(sibling) + node)
        else:
            node = sha256(node + bytes(sibling))
    return node


def is_valid_merkle_branch(
    leaf: bytes, branch: Sequence[bytes], depth: int, index: int, root: bytes
) -> bool:
    """Check `leaf` at subtree position `index` of a tree of `depth` levels against `root`.

    `branch` must have at least `depth` entries; only the first `depth` are used.
    """
    if len(branch) < depth:
        return False
    value = compute_merkle_root(leaf, list(branch)[:depth], index)
    return value == bytes(root)


def is_valid_merkle_branch_for_gindex(
    leaf: bytes, branch: Sequence[bytes], gindex: int, root: bytes
) -> bool:
    """Check a branch of exactly `floorlog2(gindex)` siblings for the leaf at `gindex`."""
    depth = floorlog2(gindex)
    if len(branch) != depth:
        return False
    return is_valid_merkle_branch(leaf, branch, depth, get_subtree_index(gindex), root)


def is_valid_normalized_merkle_branch(
    leaf: bytes, branch: Sequence[bytes], gindex: int, root: bytes
) -> bool:
    """Check a branch padded with leading zero roots to a deeper gindex (Electra).

    The light client protocol keeps branch lengths at the deepest gindex used
    by any fork, so a branch for a shallower gindex begins with zero roots that
    must be zero for the proof to count.
    """
    depth = floorlog2(gindex)
    extra = len(branch) - depth
    if extra < 0:
        return False
    if any(bytes(sibling) != ZERO_ROOT for sibling in list(branch)[:extra]):
        return False
    return is_valid_merkle_branch(
        leaf, list(branch)[extra:], depth, get_subtree_index(gindex), root
    )


def normalize_merkle_branch(branch: Sequence[bytes], gindex: int) -> list[bytes]:
    """Pad `branch` with leading zero roots to the length a proof for `gindex` has."""
    extra = floorlog2(gindex) - len(branch)
    return [ZERO_ROOT] * max(extra, 0) + [bytes(sibling) for sibling in branch]


# --- multiproofs -----------------------------------------------------------------------------


def get_branch_indices(gindex: int) -> list[int]:
    """Return the sibling gindices along the path from `gindex` up to the root."""
    indices = []
    index = gindex
    while index > 1:
        indices.append(index ^ 1)
        index >>= 1
    return indices


def get_path_indices(gindex: int) -> list[int]:
    """Return `gindex` and its ancestors, excluding the root."""
    indices = []
    index = gindex
    while index > 1:
        indices.append(index)
        index >>= 1
    return indices


def get_helper_indices(indices: Iterable[int]) -> list[int]:
    """Return the gindices a multiproof for `indices` must carry, highest first."""
    helpers: set[int] = set()
    on_paths: set[int] = set()
    for index in indices:
        helpers.update(get_branch_indices(index))
        on_paths.update(get_path_indices(index))
    return sorted(helpers - on_paths, reverse=True)


def compute_merkle_multiproof(obj: View, indices: Sequence[int]) -> list[bytes]:
    """Return the helper roots proving the nodes at `indices` of `obj`."""
    root_node = obj.get_backing()
    return [bytes(root_node.getter(index).merkle_root()) for index in get_helper_indices(indices)]


def calculate_multi_merkle_root(
    leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int]
) -> bytes:
    """Return the root implied by `leaves` at `indices` and the helper roots `proof`.

    Raises `ValueError` when the counts do not match or the proof lacks a node.
    """
    if len(leaves) != len(indices):
        raise ValueError(f"multiproof has {len(leaves)} leaves for {len(indices)} indices")
    helpers = get_helper_indices(indices)
    if len(proof) != len(helpers):
        raise ValueError(f"multiproof has {len(proof)} helper roots, expected {len(helpers)}")

    nodes: dict[int, bytes] = {}
    for index, leaf in zip(indices, leaves, strict=True):
        nodes[index] = bytes(leaf)
    for index, node in zip(helpers, proof, strict=True):
        nodes[index] = bytes(node)

    pending = sorted(nodes, reverse=True)
    position = 0
    while position < len(pending):
        index = pending[position]
        parent = index >> 1
        if parent >= 1 and index ^ 1 in nodes and parent not in nodes:
            left, right = nodes[index & ~1], nodes[index | 1]
            nodes[parent] = sha256(left + right)
            pending.append(parent)
        position += 1
    if 1 not in nodes:
        raise ValueError("multiproof does not reach the root")
    return nodes[1]


def verify_merkle_multiproof(
    leaves: Sequence[bytes], proof: Sequence[bytes], indices: Sequence[int], root: bytes
) -> bool:
    """Check a multiproof of `leaves` at `indices` against `root`."""
    try:
        return calculate_multi_merkle_root(leaves, proof, indices) == bytes(root)
    except ValueError:
        return False
