"""A Merkle Patricia trie held in memory, for state roots and block tries.

py-evm's `HexaryTrie` re-encodes and re-hashes the path to the root on every
write, and decodes every node it reads from the database again on each
access. This trie keeps decoded nodes as Python objects, applies writes
without hashing, and hashes only the nodes that changed when a root is asked
for. The nodes it creates are reported in a dict (hash to encoding), so the
caller stores them. Nodes loaded from the database are not reported again.

Nodes are never changed after they are hashed: a write copies the nodes on
its path. So an old root stays valid next to a new one, and `StateTrieCache`
can keep the roots a batch computed to build the next block on.

Paths are `bytes` with one nibble (0 to 15) per byte.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from trie.exceptions import MissingTrieNode

from execution.hashing import keccak256 as keccak

# keccak256(rlp(b"")), the root of the empty trie.
BLANK_ROOT = bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")

_TO_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))
_FROM_NIBBLES = bytes.maketrans(bytes(range(16)), b"0123456789abcdef")


def key_to_nibbles(key: bytes) -> bytes:
    return key.hex().encode().translate(_TO_NIBBLES)


def _nibbles_to_bytes(nibbles: bytes) -> bytes:
    return bytes.fromhex(nibbles.translate(_FROM_NIBBLES).decode())


def _hex_prefix(nibbles: bytes, leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        return bytes([((flag + 1) << 4) | nibbles[0]]) + _nibbles_to_bytes(nibbles[1:])
    return bytes([flag << 4]) + _nibbles_to_bytes(nibbles)


def _decode_hex_prefix(encoded: bytes) -> tuple[bytes, bool]:
    nibbles = key_to_nibbles(encoded)
    flag = nibbles[0]
    return (nibbles[1:] if flag & 1 else nibbles[2:]), bool(flag & 2)


# --- RLP, only what trie nodes need ---


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded_length = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded_length)]) + encoded_length


def encode_bytes(data: bytes) -> bytes:
    if len(data) == 1 and data[0] < 0x80:
        return data
    if len(data) < 56:
        return bytes([0x80 + len(data)]) + data
    return _length_prefix(len(data), 0x80) + data


def encode_list(payload: bytes) -> bytes:
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    return _length_prefix(len(payload), 0xC0) + payload


def decode_rlp(data: bytes, pos: int = 0) -> tuple[bytes | list, int]:
    """Decode the RLP item at `pos`; return it (bytes or a list) and the position after it."""
    first = data[pos]
    if first < 0x80:
        return data[pos : pos + 1], pos + 1
    if first < 0xB8:
        end = pos + 1 + first - 0x80
        return data[pos + 1 : end], end
    if first < 0xC0:
        size_bytes = first - 0xB7
        length = int.from_bytes(data[pos + 1 : pos + 1 + size_bytes], "big")
        start = pos + 1 + size_bytes
        return data[start : start + length], start + length
    if first < 0xF8:
        start, end = pos + 1, pos + 1 + first - 0xC0
    else:
        size_bytes = first - 0xF7
        length = int.from_bytes(data[pos + 1 : pos + 1 + size_bytes], "big")
        start = pos + 1 + size_bytes
        end = start + length
    items = []
    while start < end:
        item, start = decode_rlp(data, start)
        items.append(item)
    if start != end:
        raise ValueError("RLP list length does not match its items")
    return items, end


# --- nodes ---


class Leaf:
    __slots__ = ("path", "value", "ref")

    def __init__(self, path: bytes, value: bytes) -> None:
        self.path = path
        self.value = value
        # The node's reference in its parent: its hash, or its encoding when under 32 bytes.
        self.ref: bytes | None = None


class Extension:
    __slots__ = ("path", "child", "ref")

    def __init__(self, path: bytes, child: Node | bytes) -> None:
        self.path = path
        self.child = child
        self.ref: bytes | None = None


class Branch:
    __slots__ = ("children", "value", "ref")

    def __init__(self, children: list[Node | bytes | None], value: bytes) -> None:
        self.children = children
        self.value = value
        self.ref: bytes | None = None


Node = Leaf | Extension | Branch
# A child is a loaded node, a 32-byte hash not yet loaded, or None.
Child = Node | bytes | None


def _node_from_rlp(item: list, ref: bytes | None) -> Node:
    if len(item) == 17:
        children: list[Child] = [None] * 16
        for index in range(16):
            children[index] = _child_from_rlp(item[index])
        node: Node = Branch(children, item[16])
    elif len(item) == 2:
        path, is_leaf = _decode_hex_prefix(item[0])
        node = Leaf(path, item[1]) if is_leaf else Extension(path, _child_from_rlp(item[1]))
    else:
        raise ValueError(f"trie node has {len(item)} items")
    node.ref = ref
    return node


def _child_from_rlp(item: bytes | list) -> Child:
    if isinstance(item, list):  # a node under 32 bytes, embedded in its parent
        return _node_from_rlp(item, None)
    if not item:
        return None
    if len(item) != 32:
        raise ValueError("trie node reference is neither a hash nor an embedded node")
    return item


def _common_prefix_length(a: bytes, b: bytes) -> int:
    length = min(len(a), len(b))
    for index in range(length):
        if a[index] != b[index]:
            return index
    return length


def _child_rlp(ref: bytes) -> bytes:
    return b"\xa0" + ref if len(ref) == 32 else ref


class Trie:
    """A trie over `get_node` (hash to encoding, None when absent), starting at `root`.

    `root` is a root hash or a loaded node (then `known_root_hash` is its
    hash, when known). Writes stay in memory until `root_hash(new_nodes)`
    hashes the changed nodes and adds their encodings to `new_nodes`.
    `known_root_hash` is None while writes are not hashed.
    """

    def __init__(
        self,
        get_node: Callable[[bytes], bytes | None],
        root: bytes | Node = BLANK_ROOT,
        known_root_hash: bytes | None = None,
    ) -> None:
        self._get_node = get_node
        self.root: Child = None if root == BLANK_ROOT else root
        self.known_root_hash = root if isinstance(root, bytes) else known_root_hash

    def _load(self, node_hash: bytes, key: bytes) -> Node:
        encoded = self._get_node(node_hash)
        if encoded is None:
            raise MissingTrieNode(node_hash, self.known_root_hash or b"", key)
        item, end = decode_rlp(encoded, 0)
        if end != len(encoded) or not isinstance(item, list):
            raise ValueError(f"trie node 0x{node_hash.hex()} is not one RLP list")
        return _node_from_rlp(item, node_hash)

    def _loaded(self, child: Node | bytes, key: bytes) -> Node:
        return self._load(child, key) if isinstance(child, bytes) else child

    # --- reads ---

    def get(self, key: bytes) -> bytes:
        """Return the value at `key`, b"" when absent."""
        return self.get_path(key_to_nibbles(key), key)

    def get_path(self, path: bytes, key: bytes = b"") -> bytes:
        node = self.root
        if isinstance(node, bytes):
            node = self.root = self._load(node, key)
        position = 0
        while node is not None:
            kind = type(node)
            if kind is Leaf:
                return node.value if node.path == path[position:] else b""
            if kind is Extension:
                end = position + len(node.path)
                if path[position:end] != node.path:
                    return b""
                position = end
                child = node.child
                if isinstance(child, bytes):
                    # Keep the loaded node: same content, same reference, no reload next time.
                    child = node.child = self._load(child, key)
                node = child
            else:
                if position == len(path):
                    return node.value
                index = path[position]
                child = node.children[index]
                if isinstance(child, bytes):
                    child = node.children[index] = self._load(child, key)
                node = child
                position += 1
        return b""

    # --- writes ---

    def set(self, key: bytes, value: bytes) -> None:
        """Set `key` to `value`; an empty value deletes the key."""
        self.set_path(key_to_nibbles(key), value, key)

    def set_path(self, path: bytes, value: bytes, key: bytes = b"") -> None:
        if value:
            self.root = self._put(self.root, path, value, key)
        else:
            self.root = self._delete(self.root, path, key)
        self.known_root_hash = None

    def delete(self, key: bytes) -> None:
        self.set(key, b"")

    def _put(self, node: Child, path: bytes, value: bytes, key: bytes) -> Node:
        if node is None:
            return Leaf(path, value)
        if isinstance(node, bytes):
            node = self._load(node, key)
        kind = type(node)
        if kind is Branch:
            children = list(node.children)
            if not path:
                return Branch(children, value)
            children[path[0]] = self._put(children[path[0]], path[1:], value, key)
            return Branch(children, node.value)
        if kind is Leaf:
            if node.path == path:
                return node if node.value == value else Leaf(path, value)
            common = _common_prefix_length(node.path, path)
            branch = Branch([None] * 16, b"")
            self._place(branch, node.path[common:], Leaf, node.value)
            self._place(branch, path[common:], Leaf, value)
            return Extension(path[:common], branch) if common else branch
        # Extension
        common = _common_prefix_length(node.path, path)
        if common == len(node.path):
            child = self._put(node.child, path[common:], value, key)
            return Extension(node.path, child)
        branch = Branch([None] * 16, b"")
        rest = node.path[common:]
        branch.children[rest[0]] = node.child if len(rest) == 1 else Extension(rest[1:], node.child)
        self._place(branch, path[common:], Leaf, value)
        return Extension(path[:common], branch) if common else branch

    @staticmethod
    def _place(branch: Branch, rest: bytes, leaf: type[Leaf], value: bytes) -> None:
        if rest:
            branch.children[rest[0]] = leaf(rest[1:], value)
        else:
            branch.value = value

    def _delete(self, node: Child, path: bytes, key: bytes) -> Node | None:
        if node is None:
            return None
        if isinstance(node, bytes):
            node = self._load(node, key)
        kind = type(node)
        if kind is Leaf:
            return None if node.path == path else node
        if kind is Extension:
            length = len(node.path)
            if path[:length] != node.path:
                return node
            child = self._delete(node.child, path[length:], key)
            if child is node.child:
                return node
            return self._joined(node.path, child, key)
        # Branch
        if not path:
            if not node.value:
                return node
            branch = Branch(list(node.children), b"")
        else:
            old = node.children[path[0]]
            new = self._delete(old, path[1:], key)
            if new is old:
                return node
            children = list(node.children)
            children[path[0]] = new
            branch = Branch(children, node.value)
        return self._normalized(branch, key)

    def _joined(self, path: bytes, child: Child, key: bytes) -> Node | None:
        """Return the node for `path` followed by `child`, merging paths where the trie must."""
        if child is None:
            return None
        if isinstance(child, bytes):
            child = self._load(child, key)
        if type(child) is Leaf:
            return Leaf(path + child.path, child.value)
        if type(child) is Extension:
            return Extension(path + child.path, child.child)
        return Extension(path, child)

    def _normalized(self, branch: Branch, key: bytes) -> Node | None:
        """Collapse a branch left with fewer than two entries."""
        used = [index for index, child in enumerate(branch.children) if child is not None]
        if len(used) >= 2 or (used and branch.value):
            return branch
        if branch.value:
            return Leaf(b"", branch.value)
        if not used:
            return None
        index = used[0]
        return self._joined(bytes([index]), branch.children[index], key)

    # --- hashing ---

    def root_hash(self, new_nodes: dict[bytes, bytes]) -> bytes:
        """Hash the changed nodes, add their encodings to `new_nodes`, return the root hash."""
        if self.known_root_hash is not None:
            return self.known_root_hash
        root = self.root
        if root is None:
            result = BLANK_ROOT
        elif isinstance(root, bytes):
            result = root
        else:
            ref = _reference(root, new_nodes)
            if len(ref) == 32:
                result = ref
            else:  # the root is hashed and stored even when it is under 32 bytes
                result = keccak(ref)
                new_nodes[result] = ref
        self.known_root_hash = result
        return result


def _reference(node: Node, new_nodes: dict[bytes, bytes]) -> bytes:
    ref = node.ref
    if ref is not None:
        return ref
    kind = type(node)
    if kind is Leaf:
        encoded = encode_list(encode_bytes(_hex_prefix(node.path, True)) + encode_bytes(node.value))
    elif kind is Extension:
        child = node.child
        child_ref = child if isinstance(child, bytes) else _reference(child, new_nodes)
        encoded = encode_list(encode_bytes(_hex_prefix(node.path, False)) + _child_rlp(child_ref))
    else:
        parts = []
        for child in node.children:
            if child is None:
                parts.append(b"\x80")
            elif isinstance(child, bytes):
                parts.append(b"\xa0" + child)
            else:
                parts.append(_child_rlp(_reference(child, new_nodes)))
        parts.append(encode_bytes(node.value))
        encoded = encode_list(b"".join(parts))
    if len(encoded) < 32:
        node.ref = encoded
    else:
        ref = keccak(encoded)
        new_nodes[ref] = encoded
        node.ref = ref
    return node.ref


def _absent(_key: bytes) -> None:
    return None


def ordered_trie_root(encodings: Iterable[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Return the root of the trie from rlp(index) to each encoding, and its nodes.

    The transactions, receipts and withdrawals roots of a block header.
    """
    trie = Trie(_absent)
    for index, encoded in enumerate(encodings):
        trie.set(encode_bytes(index.to_bytes((index.bit_length() + 7) // 8, "big")), encoded)
    nodes: dict[bytes, bytes] = {}
    return trie.root_hash(nodes), nodes
