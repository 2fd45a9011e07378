"""Build remerkleable backing trees straight from SSZ bytes, with every root computed.

remerkleable's own `decode_bytes` creates a view object for every element and
field, about 280 us per validator on a loaded 2-core machine, so a mainnet
state takes minutes. Here each type gets a builder that turns its bytes
directly into the same tree shape (`subtree_fill_to_contents` layout, length
mix-ins). Each pair is hashed as it is made, so the tree arrives with its
roots cached.

Builders assume bytes already checked by `caplin.types.ssz` (offsets, lengths,
bit padding); they do not re-check.
"""

from collections.abc import Callable
from functools import cache
from hashlib import sha256
from typing import Any

from remerkleable.basic import boolean, uint
from remerkleable.bitfields import Bitlist, Bitvector
from remerkleable.byte_arrays import ByteList, ByteVector
from remerkleable.complex import Container, List, Vector
from remerkleable.settings import zero_hashes
from remerkleable.tree import Node, PairNode, RootNode, zero_node

CHUNK = 32
OFFSET_SIZE = 4

# A builder turns data[start:end] into (node, root) for one SSZ type.
Builder = Callable[[bytes, int, int], tuple[Node, bytes]]


def backing_from_bytes(cls: Any, data: bytes) -> Node:
    """Return the backing tree of `cls` for the checked SSZ bytes `data`."""
    node, _ = builder_for(cls)(data, 0, len(data))
    return node


def fill(nodes: list[Node], roots: list[bytes], depth: int) -> tuple[Node, bytes]:
    """Merkleize `nodes` (with their `roots`) into a subtree of `depth`, padding with zeros."""
    if not nodes:
        return zero_node(depth), zero_hashes[depth]
    for level in range(depth):
        if len(nodes) & 1:
            nodes.append(zero_node(level))
            roots.append(zero_hashes[level])
        next_nodes = []
        next_roots = []
        for i in range(0, len(nodes), 2):
            root = sha256(roots[i] + roots[i + 1]).digest()
            pair = PairNode(nodes[i], nodes[i + 1])
            pair._root = root
            next_nodes.append(pair)
            next_roots.append(root)
        nodes, roots = next_nodes, next_roots
    return nodes[0], roots[0]


def _mix_in_length(contents: Node, contents_root: bytes, length: int) -> tuple[Node, bytes]:
    length_root = length.to_bytes(CHUNK, "little")
    root = sha256(contents_root + length_root).digest()
    node = PairNode(contents, RootNode(length_root))
    node._root = root
    return node, root


def _chunks(data: bytes, start: int, end: int) -> tuple[list[Node], list[bytes]]:
    whole_end = start + (end - start) // CHUNK * CHUNK
    roots = [data[i : i + CHUNK] for i in range(start, whole_end, CHUNK)]
    if whole_end < end:
        roots.append(data[whole_end:end].ljust(CHUNK, b"\x00"))
    return [RootNode(root) for root in roots], roots


def _packed_builder(depth: int) -> Builder:
    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes, roots = _chunks(data, start, end)
        return fill(nodes, roots, depth)

    return build


def _packed_list_builder(depth: int, element_size: int) -> Builder:
    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes, roots = _chunks(data, start, end)
        contents, contents_root = fill(nodes, roots, depth)
        return _mix_in_length(contents, contents_root, (end - start) // element_size)

    return build


def _leaf(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
    root = data[start:end]
    if len(root) < CHUNK:
        root = root.ljust(CHUNK, b"\x00")
    return RootNode(root), root


def _bitlist(depth: int) -> Builder:
    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        last = data[end - 1]
        bit_length = (end - start - 1) * 8 + last.bit_length() - 1
        # Drop the delimiter bit; its byte goes too when no data bits share it.
        body = bytearray(data[start : start + (bit_length + 7) // 8])
        if bit_length % 8:
            body[-1] ^= 1 << (bit_length % 8)
        nodes, roots = _chunks(bytes(body), 0, len(body))
        contents, contents_root = fill(nodes, roots, depth)
        return _mix_in_length(contents, contents_root, bit_length)

    return build


def _fixed_sequence(element: Builder, size: int, depth: int, mix_in: bool) -> Builder:
    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes = []
        roots = []
        for position in range(start, end, size):
            node, root = element(data, position, position + size)
            nodes.append(node)
            roots.append(root)
        count = len(nodes)
        contents, contents_root = fill(nodes, roots, depth)
        if mix_in:
            return _mix_in_length(contents, contents_root, count)
        return contents, contents_root

    return build


def _variable_sequence(element: Builder, depth: int, mix_in: bool) -> Builder:
    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes = []
        roots = []
        if end > start:
            first = int.from_bytes(data[start : start + OFFSET_SIZE], "little")
            count = first // OFFSET_SIZE
            offsets = [
                start + int.from_bytes(data[start + i * 4 : start + i * 4 + 4], "little")
                for i in range(count)
            ]
            offsets.append(end)
            for i in range(count):
                node, root = element(data, offsets[i], offsets[i + 1])
                nodes.append(node)
                roots.append(root)
        count = len(nodes)
        contents, contents_root = fill(nodes, roots, depth)
        if mix_in:
            return _mix_in_length(contents, contents_root, count)
        return contents, contents_root

    return build


def _container(cls: Any) -> Builder:
    depth = cls.tree_depth()
    layout = []  # (builder, fixed size or None for an offset)
    for kind in cls.fields().values():
        fixed = kind.is_fixed_byte_length()
        layout.append((builder_for(kind), kind.type_byte_length() if fixed else None))

    if cls.is_fixed_byte_length():
        return _fixed_container(cls)

    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes: list[Any] = []
        roots: list[Any] = []
        variable = []
        position = start
        for index, (field, size) in enumerate(layout):
            if size is None:
                offset = int.from_bytes(data[position : position + OFFSET_SIZE], "little")
                variable.append((index, field, start + offset))
                nodes.append(None)
                roots.append(None)
                position += OFFSET_SIZE
            else:
                node, root = field(data, position, position + size)
                nodes.append(node)
                roots.append(root)
                position += size
        ends = [field_start for _, _, field_start in variable[1:]] + [end]
        for (index, field, field_start), field_end in zip(variable, ends, strict=True):
            nodes[index], roots[index] = field(data, field_start, field_end)
        return fill(nodes, roots, depth)

    return build


def _fixed_container(cls: Any) -> Builder:
    """Generate a straight-line builder for a fixed-size container.

    Validators, checkpoints and headers are built millions of times when a
    state is decoded. One generated function per class, with every offset a
    constant and no loops, avoids the generic builder's per-field calls.
    """
    return _generate_fixed(cls, with_nodes=True)


@cache
def root_function_for(cls: Any) -> Callable[[bytes, int, int], bytes]:
    """Return a function computing the root of a fixed-size value's bytes, without nodes.

    Containers get a generated function; other fixed-size types (vectors
    inside a container) fall back to their tree builder.
    """
    if issubclass(cls, Container):
        return _generate_fixed(cls, with_nodes=False)
    build = builder_for(cls)

    def root_of(data: bytes, start: int, end: int) -> bytes:
        return build(data, start, end)[1]

    return root_of


# Longer byte fields (a 128 KiB blob) call their own builder: inlining every
# chunk would make the generated source huge and slow to compile.
_MAX_INLINE_CHUNKS = 4


def _generate_fixed(cls: Any, with_nodes: bool) -> Any:
    """Generate a fixed-size container's builder, or its root-only twin without nodes."""
    lines: list[str] = []
    names: dict[str, Any] = {"RootNode": RootNode, "PairNode": PairNode, "sha256": sha256}
    counter = iter(range(1_000_000))

    def new(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    def emit_chunks(offset: int, size: int) -> list[tuple[str, str]]:
        pairs = []
        for chunk_start in range(0, size, CHUNK):
            length = min(CHUNK, size - chunk_start)
            root, node = new("r"), new("n")
            first = offset + chunk_start
            source = f"data[start + {first}:start + {first + length}]"
            if length < CHUNK:
                source += f" + {bytes(CHUNK - length)!r}"
            lines.append(f"{root} = {source}")
            if with_nodes:
                lines.append(f"{node} = RootNode({root})")
            pairs.append((node, root))
        return pairs

    def emit_fill(pairs: list[tuple[str, str]], depth: int) -> tuple[str, str]:
        for level in range(depth):
            if len(pairs) & 1:
                zero_node_name, zero_root_name = f"zero_node_{level}", f"zero_root_{level}"
                names[zero_node_name] = zero_node(level)
                names[zero_root_name] = zero_hashes[level]
                pairs.append((zero_node_name, zero_root_name))
            merged = []
            for i in range(0, len(pairs), 2):
                (left_node, left_root), (right_node, right_root) = pairs[i], pairs[i + 1]
                root, node = new("r"), new("n")
                lines.append(f"{root} = sha256({left_root} + {right_root}).digest()")
                if with_nodes:
                    lines.append(f"{node} = PairNode({left_node}, {right_node})")
                    lines.append(f"{node}._root = {root}")
                merged.append((node, root))
            pairs = merged
        return pairs[0]

    fields: list[tuple[str, str]] = []
    offset = 0
    for kind in cls.fields().values():
        size = kind.type_byte_length()
        inline = size <= _MAX_INLINE_CHUNKS * CHUNK
        if inline and issubclass(kind, (boolean, uint, ByteVector, Bitvector)):
            chunks = emit_chunks(offset, size)
            depth = 0 if len(chunks) == 1 else kind.tree_depth()
            fields.append(emit_fill(chunks, depth))
        else:
            function_name = new("field_")
            node, root = new("n"), new("r")
            call = f"{function_name}(data, start + {offset}, start + {offset + size})"
            if with_nodes:
                names[function_name] = builder_for(kind)
                lines.append(f"{node}, {root} = {call}")
            else:
                names[function_name] = root_function_for(kind)
                lines.append(f"{root} = {call}")
            fields.append((node, root))
        offset += size
    node, root = emit_fill(fields, cls.tree_depth())
    body = "\n    ".join(lines)
    result = f"{node}, {root}" if with_nodes else root
    source = f"def build(data, start, end):\n    {body}\n    return {result}\n"
    kind_of = "tree builder" if with_nodes else "root function"
    exec(compile(source, f"<{kind_of} for {cls.__name__}>", "exec"), names)
    return names["build"]


class PackedNode(PairNode):
    """The subtree of one fixed-size container, kept as its SSZ bytes until a child is read.

    A state's validators are rarely all read after decoding, but all of them
    need roots. This node stores the container's bytes and root, and builds its
    children (through the class's tree builder) only when remerkleable first
    navigates into it, which saves most of the node allocations of a decode.
    """

    __slots__ = ("_packed", "_expand")

    def __init__(self, packed: bytes, root: bytes, expand: Builder) -> None:
        self._packed = packed
        self._root = root
        self._expand = expand

    def __getattr__(self, name: str) -> Node:
        # Called only while the `left` and `right` slots are still unset.
        if name not in ("left", "right"):
            raise AttributeError(name)
        full, _ = self._expand(self._packed, 0, len(self._packed))
        self.left = full.left
        self.right = full.right
        return full.left if name == "left" else full.right

    def __reduce__(self) -> tuple[Any, tuple[Node, Node, bytes]]:
        # The builder is a generated function that cannot be pickled: send a plain pair.
        return _pair_with_root, (self.left, self.right, self._root)


def _pair_with_root(left: Node, right: Node, root: bytes) -> PairNode:
    pair = PairNode(left, right)
    pair._root = root
    return pair


def _packed_containers(element: Any, size: int, depth: int, mix_in: bool) -> Builder:
    root_of = root_function_for(element)
    expand = builder_for(element)

    def build(data: bytes, start: int, end: int) -> tuple[Node, bytes]:
        nodes: list[Node] = []
        roots = []
        for position in range(start, end, size):
            packed = data[position : position + size]
            root = root_of(packed, 0, size)
            nodes.append(PackedNode(packed, root, expand))
            roots.append(root)
        count = len(nodes)
        contents, contents_root = fill(nodes, roots, depth)
        if mix_in:
            return _mix_in_length(contents, contents_root, count)
        return contents, contents_root

    return build


@cache
def builder_for(cls: Any) -> Builder:
    """Return the cached builder that turns SSZ bytes of `cls` into its backing tree."""
    if issubclass(cls, (boolean, uint)):
        return _leaf
    if issubclass(cls, ByteVector):
        return _leaf if cls.type_byte_length() <= CHUNK else _packed_builder(cls.tree_depth())
    if issubclass(cls, Bitvector):
        return _leaf if cls.type_byte_length() <= CHUNK else _packed_builder(cls.tree_depth())
    if issubclass(cls, ByteList):
        return _packed_list_builder(cls.contents_depth(), 1)
    if issubclass(cls, Bitlist):
        return _bitlist(cls.contents_depth())
    if issubclass(cls, (List, Vector)):
        element = cls.element_cls()
        is_list = issubclass(cls, List)
        depth = cls.contents_depth() if is_list else cls.tree_depth()
        if issubclass(element, (boolean, uint)):
            size = element.type_byte_length()
            if is_list:
                return _packed_list_builder(depth, size)
            return _packed_builder(depth)
        if element.is_fixed_byte_length():
            size = element.type_byte_length()
            if issubclass(element, Container) and element.tree_depth() > 0:
                return _packed_containers(element, size, depth, is_list)
            return _fixed_sequence(builder_for(element), size, depth, is_list)
        return _variable_sequence(builder_for(element), depth, is_list)
    if issubclass(cls, Container):
        return _container(cls)
    raise TypeError(f"no tree builder for {cls.__name__}")


# Encoding: read SSZ bytes back out of a backing tree.
#
# remerkleable's `encode_bytes` builds a view per element; reading the leaf
# chunks directly is far faster for large states.

# A serializer turns a backing node of one SSZ type into its SSZ bytes.
Serializer = Callable[[Node], bytes]


def bytes_from_backing(cls: Any, node: Node) -> bytes:
    """Return the SSZ bytes of the value of `cls` whose backing tree is `node`."""
    return serializer_for(cls)(node)


def _children(node: Node, depth: int) -> tuple[Node, Node]:
    if isinstance(node, PairNode):
        return node.left, node.right
    # A zero subtree may be stored as one RootNode of the zero hash.
    if node.merkle_root() != zero_hashes[depth]:
        raise ValueError("backing tree ends early at a non-zero node")
    child = zero_node(depth - 1)
    return child, child


def nodes_at_depth(node: Node, depth: int, count: int) -> list[Node]:
    """Return the first `count` nodes at `depth` below `node`, left to right."""
    out: list[Node] = []
    if count == 0:
        return out
    stack = [(node, depth, count)]
    while stack:
        current, level, needed = stack.pop()
        if level == 0:
            out.append(current)
            continue
        left, right = _children(current, level)
        half = 1 << (level - 1)
        if needed > half:
            stack.append((right, level - 1, needed - half))
        stack.append((left, level - 1, min(needed, half)))
    return out


def _length_of(node: Node) -> tuple[Node, int]:
    contents, length = _children(node, 1)
    return contents, int.from_bytes(length.merkle_root()[:8], "little")


def _leaf_bytes(size: int) -> Serializer:
    def serialize(node: Node) -> bytes:
        return node.merkle_root()[:size]

    return serialize


def _packed_bytes(depth: int, size: int) -> Serializer:
    def serialize(node: Node) -> bytes:
        chunks = nodes_at_depth(node, depth, (size + CHUNK - 1) // CHUNK)
        return b"".join(chunk.merkle_root() for chunk in chunks)[:size]

    return serialize


def _packed_list_bytes(depth: int, element_size: int) -> Serializer:
    def serialize(node: Node) -> bytes:
        contents, length = _length_of(node)
        size = length * element_size
        chunks = nodes_at_depth(contents, depth, (size + CHUNK - 1) // CHUNK)
        return b"".join(chunk.merkle_root() for chunk in chunks)[:size]

    return serialize


def _bitlist_bytes(depth: int) -> Serializer:
    def serialize(node: Node) -> bytes:
        contents, bit_length = _length_of(node)
        size = bit_length // 8 + 1
        chunks = nodes_at_depth(contents, depth, (size + CHUNK - 1) // CHUNK)
        body = bytearray(
            b"".join(chunk.merkle_root() for chunk in chunks)[:size].ljust(size, b"\0")
        )
        body[bit_length // 8] |= 1 << (bit_length % 8)
        return bytes(body)

    return serialize


def _join_elements(element: Serializer, fixed: bool, nodes: list[Node]) -> bytes:
    parts = [element(node) for node in nodes]
    if fixed:
        return b"".join(parts)
    offsets = []
    position = OFFSET_SIZE * len(parts)
    for part in parts:
        offsets.append(position.to_bytes(OFFSET_SIZE, "little"))
        position += len(part)
    return b"".join(offsets) + b"".join(parts)


def _sequence_bytes(element_cls: Any, depth: int, length: int | None) -> Serializer:
    element = serializer_for(element_cls)
    fixed = element_cls.is_fixed_byte_length()

    def serialize(node: Node) -> bytes:
        if length is None:
            contents, count = _length_of(node)
        else:
            contents, count = node, length
        return _join_elements(element, fixed, nodes_at_depth(contents, depth, count))

    return serialize


def _container_bytes(cls: Any) -> Serializer:
    kinds = list(cls.fields().values())
    serializers = [serializer_for(kind) for kind in kinds]
    fixed = [kind.is_fixed_byte_length() for kind in kinds]
    depth = cls.tree_depth()
    fixed_size = sum(
        kind.type_byte_length() if is_fixed else OFFSET_SIZE
        for kind, is_fixed in zip(kinds, fixed, strict=True)
    )

    def serialize(node: Node) -> bytes:
        if type(node) is PackedNode:
            # Tree nodes never change, so the bytes it was built from are still its value.
            return node._packed
        field_nodes = nodes_at_depth(node, depth, len(kinds))
        head = []
        tail = []
        position = fixed_size
        for serializer, is_fixed, field_node in zip(serializers, fixed, field_nodes, strict=True):
            data = serializer(field_node)
            if is_fixed:
                head.append(data)
            else:
                head.append(position.to_bytes(OFFSET_SIZE, "little"))
                tail.append(data)
                position += len(data)
        return b"".join(head) + b"".join(tail)

    return serialize


@cache
def serializer_for(cls: Any) -> Serializer:
    """Return the cached function that reads SSZ bytes of `cls` out of its backing tree."""
    if issubclass(cls, (boolean, uint)):
        return _leaf_bytes(cls.type_byte_length())
    if issubclass(cls, (ByteVector, Bitvector)):
        size = cls.type_byte_length()
        return _leaf_bytes(size) if size <= CHUNK else _packed_bytes(cls.tree_depth(), size)
    if issubclass(cls, ByteList):
        return _packed_list_bytes(cls.contents_depth(), 1)
    if issubclass(cls, Bitlist):
        return _bitlist_bytes(cls.contents_depth())
    if issubclass(cls, (List, Vector)):
        element = cls.element_cls()
        is_list = issubclass(cls, List)
        depth = cls.contents_depth() if is_list else cls.tree_depth()
        if issubclass(element, (boolean, uint)):
            size = element.type_byte_length()
            if is_list:
                return _packed_list_bytes(depth, size)
            return _packed_bytes(depth, size * cls.vector_length())
        return _sequence_bytes(element, depth, None if is_list else cls.vector_length())
    if issubclass(cls, Container):
        return _container_bytes(cls)
    raise TypeError(f"no serializer for {cls.__name__}")
