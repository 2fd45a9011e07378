"""SSZ encode, decode and hash_tree_root, with strict checks on untrusted bytes.

remerkleable (0.1.28) rejects most malformed input. It accepts three kinds of
invalid encoding, though: a top-level basic or fixed-size value of the wrong
length, a boolean byte other than 0 or 1, and a container whose first offset
points past the end of its fixed part. `decode` therefore walks the bytes
against the type first and raises `SSZError` naming the type, the field path
and the problem. Bytes that pass become a backing tree built by
`caplin.types.tree`, much faster than remerkleable's own decoder.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from remerkleable.basic import boolean, uint
from remerkleable.bitfields import Bitlist, Bitvector
from remerkleable.byte_arrays import ByteList, ByteVector
from remerkleable.complex import Container, List, Vector

from caplin.errors import SSZError
from caplin.types.tree import backing_from_bytes, bytes_from_backing

OFFSET_SIZE = 4

# A check on one byte of a fixed-size value: (offset, mask). With mask 0 the
# byte is a boolean and must be 0 or 1; otherwise `byte & mask` must be 0
# (the unused high bits of a bitvector's last byte).
ByteCheck = tuple[int, int]
_BOOLEAN = 0


def decode(cls: Any, data: bytes | bytearray | memoryview) -> Any:
    """Decode `data` as the SSZ type `cls`.

    Raises:
        SSZError: the bytes are not a valid encoding of `cls`; the message
            names the type, the field path and what is wrong.
    """
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
    name = cls.__name__
    _validate(cls, view, name)
    raw = bytes(view)
    if issubclass(cls, (boolean, uint)):
        return cls.decode_bytes(raw)
    if len(raw) < _GC_PAUSE_BYTES:
        return cls.view_from_backing(backing_from_bytes(cls, raw))
    with _gc_paused():
        return cls.view_from_backing(backing_from_bytes(cls, raw))


# Building the tree of a large state allocates millions of nodes that are all
# kept, so the cyclic collector would only rescan them. Pausing it saved about a
# third of the decode time of a 20,000-validator list (2-core x86_64, loaded).
_GC_PAUSE_BYTES = 1 << 20
_gc_lock = threading.Lock()
_gc_pausers = 0


@contextmanager
def _gc_paused() -> Iterator[None]:
    global _gc_pausers
    with _gc_lock:
        if _gc_pausers == 0 and not gc.isenabled():
            paused = False
        else:
            paused = True
            _gc_pausers += 1
            gc.disable()
    try:
        yield
    finally:
        if paused:
            with _gc_lock:
                _gc_pausers -= 1
                if _gc_pausers == 0:
                    gc.enable()


def encode(value: Any) -> bytes:
    """Return the SSZ serialization of `value`, read straight from its backing tree."""
    cls = type(value)
    if issubclass(cls, (boolean, uint)):
        return value.encode_bytes()
    return bytes_from_backing(cls, value.get_backing())


def hash_tree_root(value: Any) -> bytes:
    """Return the 32-byte SSZ hash tree root of `value`."""
    return bytes(value.hash_tree_root())


def _fail(path: str, problem: str, **fields: Any) -> SSZError:
    return SSZError(f"invalid {path}: {problem}", path=path, **fields)


def _is_fixed(cls: Any) -> bool:
    return cls.is_fixed_byte_length()


def _validate(cls: Any, data: memoryview, path: str) -> None:
    """Check that `data` is a well-formed encoding of `cls`, raising SSZError if not."""
    if _is_fixed(cls):
        _validate_fixed(cls, data, path)
        return
    if issubclass(cls, Container):
        _validate_container(cls, data, path)
    elif issubclass(cls, Bitlist):
        _validate_bitlist(cls, data, path)
    elif issubclass(cls, ByteList):
        if len(data) > cls.limit():
            raise _fail(path, f"{len(data)} bytes, over the limit of {cls.limit()}")
    elif issubclass(cls, List):
        _validate_list(cls, data, path)
    elif issubclass(cls, Vector):
        _validate_variable_sequence(cls.element_cls(), cls.vector_length(), data, path, exact=True)
    else:
        raise _fail(path, f"unsupported SSZ type {cls.__name__}")


def _validate_fixed(cls: Any, data: memoryview, path: str) -> None:
    size = cls.type_byte_length()
    if len(data) != size:
        raise _fail(path, f"{len(data)} bytes, expected exactly {size}")
    for offset, mask in _byte_checks(cls):
        _check_byte(data[offset], mask, path, offset)


def _check_byte(value: int, mask: int, path: str, offset: int) -> None:
    if mask == _BOOLEAN:
        if value > 1:
            raise _fail(path, f"boolean byte {value} at byte {offset}, expected 0 or 1")
    elif value & mask:
        raise _fail(path, f"non-zero bitvector padding bits at byte {offset}")


@cache
def _byte_checks(cls: Any) -> tuple[ByteCheck, ...]:
    """Return the byte checks of a fixed-size type, relative to its first byte."""
    if issubclass(cls, boolean):
        return ((0, _BOOLEAN),)
    if issubclass(cls, (uint, ByteVector)):
        return ()
    if issubclass(cls, Bitvector):
        bits = cls.vector_length()
        if bits % 8 == 0:
            return ()
        return ((cls.type_byte_length() - 1, 0xFF ^ ((1 << (bits % 8)) - 1)),)
    if issubclass(cls, Vector):
        element = cls.element_cls()
        inner = _byte_checks(element)
        size = element.type_byte_length()
        return tuple(
            (index * size + offset, mask)
            for index in range(cls.vector_length())
            for offset, mask in inner
        )
    if issubclass(cls, Container):
        checks: list[ByteCheck] = []
        position = 0
        for field in cls.fields().values():
            checks.extend((position + offset, mask) for offset, mask in _byte_checks(field))
            position += field.type_byte_length()
        return tuple(checks)
    raise TypeError(f"unsupported fixed-size SSZ type {cls.__name__}")


def _validate_container(cls: Any, data: memoryview, path: str) -> None:
    fields = cls.fields()
    fixed_size = sum(
        kind.type_byte_length() if _is_fixed(kind) else OFFSET_SIZE for kind in fields.values()
    )
    if len(data) < fixed_size:
        raise _fail(path, f"{len(data)} bytes, shorter than the fixed part of {fixed_size}")

    position = 0
    variable: list[tuple[str, Any, int]] = []
    for name, kind in fields.items():
        if _is_fixed(kind):
            size = kind.type_byte_length()
            _validate_fixed(kind, data[position : position + size], f"{path}.{name}")
            position += size
        else:
            offset = int.from_bytes(data[position : position + OFFSET_SIZE], "little")
            variable.append((name, kind, offset))
            position += OFFSET_SIZE

    if variable and variable[0][2] != fixed_size:
        first = variable[0]
        raise _fail(
            f"{path}.{first[0]}",
            f"first offset {first[2]}, expected the fixed-part size {fixed_size}",
        )
    ends = [offset for _, _, offset in variable[1:]] + [len(data)]
    for (name, kind, start), end in zip(variable, ends, strict=True):
        if end < start:
            raise _fail(f"{path}.{name}", f"offset {start} is after the next offset {end}")
        if end > len(data):
            raise _fail(f"{path}.{name}", f"offset {end} is past the end ({len(data)} bytes)")
        _validate(kind, data[start:end], f"{path}.{name}")


def _validate_bitlist(cls: Any, data: memoryview, path: str) -> None:
    if len(data) == 0:
        raise _fail(path, "empty bitlist, the delimiter bit is missing")
    last = data[-1]
    if last == 0:
        raise _fail(path, "last byte is zero, the delimiter bit is missing")
    bits = (len(data) - 1) * 8 + last.bit_length() - 1
    if bits > cls.limit():
        raise _fail(path, f"{bits} bits, over the limit of {cls.limit()}")


def _validate_list(cls: Any, data: memoryview, path: str) -> None:
    element = cls.element_cls()
    if not _is_fixed(element):
        _validate_variable_sequence(element, cls.limit(), data, path, exact=False)
        return
    size = element.type_byte_length()
    if len(data) % size:
        raise _fail(path, f"{len(data)} bytes, not a multiple of the element size {size}")
    count = len(data) // size
    if count > cls.limit():
        raise _fail(path, f"{count} elements, over the limit of {cls.limit()}")
    _check_fixed_elements(element, size, data, path)


def _check_fixed_elements(element: Any, size: int, data: memoryview, path: str) -> None:
    """Apply an element type's byte checks to every element, one strided slice per check."""
    for offset, mask in _byte_checks(element):
        column = bytes(data[offset::size])
        if mask == _BOOLEAN:
            bad = max(column, default=0) > 1
        else:
            bad = any(value & mask for value in column)
        if bad:
            index = next(
                i for i, value in enumerate(column) if (value > 1 if mask == 0 else value & mask)
            )
            _check_byte(column[index], mask, f"{path}[{index}]", offset)


def _validate_variable_sequence(
    element: Any, bound: int, data: memoryview, path: str, exact: bool
) -> None:
    """Check a list (at most `bound`) or vector (exactly `bound`) of variable-size elements."""
    if len(data) == 0:
        if exact and bound:
            raise _fail(path, f"empty, expected {bound} elements")
        return
    if len(data) < OFFSET_SIZE:
        raise _fail(path, f"{len(data)} bytes, too short for the first offset")
    first = int.from_bytes(data[:OFFSET_SIZE], "little")
    if first == 0 or first % OFFSET_SIZE:
        raise _fail(path, f"first offset {first} is not a positive multiple of {OFFSET_SIZE}")
    if first > len(data):
        raise _fail(path, f"first offset {first} is past the end ({len(data)} bytes)")
    count = first // OFFSET_SIZE
    if exact and count != bound:
        raise _fail(path, f"{count} elements, expected {bound}")
    if count > bound:
        raise _fail(path, f"{count} elements, over the limit of {bound}")

    offsets = [
        int.from_bytes(data[i * OFFSET_SIZE : (i + 1) * OFFSET_SIZE], "little")
        for i in range(count)
    ]
    offsets.append(len(data))
    for index in range(count):
        start, end = offsets[index], offsets[index + 1]
        if end < start:
            raise _fail(f"{path}[{index}]", f"offset {start} is after the next offset {end}")
        if end > len(data):
            raise _fail(f"{path}[{index}]", f"offset {end} is past the end ({len(data)} bytes)")
        _validate(element, data[start:end], f"{path}[{index}]")
