"""Beacon-API JSON encoding of SSZ values, both ways.

The mapping is the one the Beacon API uses:

- unsigned integers of every size are decimal strings (`"12"`);
- booleans are JSON `true` / `false`;
- byte vectors and byte lists are `0x`-prefixed lowercase hex;
- bitvectors and bitlists are the `0x` hex of their SSZ bytes (a bitlist keeps
  its delimiter bit);
- lists and vectors of other types are JSON arrays;
- containers are objects keyed by the spec's snake_case field names.

Fork-versioned payloads travel in an envelope `{"version": "electra", "data": ...}`.
Every decoding problem raises `SSZError` with the field path (for example
`BeaconBlock.body.attestations[0].data.slot`) in the message and `fields`.
"""

import struct
from typing import Any

from remerkleable.basic import boolean, uint
from remerkleable.bitfields import Bitlist, Bitvector
from remerkleable.byte_arrays import ByteList, ByteVector
from remerkleable.complex import Container, List, Vector

from caplin.config.forks import Fork
from caplin.errors import SSZError
from caplin.types import fork_of
from caplin.types.ssz import decode, encode

_UNPACK_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}
OFFSET_SIZE = 4

# Both directions go through SSZ bytes rather than remerkleable views: reading
# and writing a view per element takes minutes for a mainnet state, while
# `encode` and `decode` work on whole byte strings.


def to_json(value: Any) -> Any:
    """Return the Beacon-API JSON form (dicts, lists, strings, bools) of an SSZ value."""
    data = encode(value)
    return _bytes_to_json(type(value), data, 0, len(data))


def from_json(cls: Any, obj: Any, path: str | None = None) -> Any:
    """Build a value of the SSZ type `cls` from its Beacon-API JSON form.

    Integers may also be given as JSON numbers. Unknown or missing container
    fields are errors.

    Raises:
        SSZError: `obj` does not match `cls`; the message names the field path.
    """
    data = _json_to_bytes(cls, obj, path or cls.__name__)
    return decode(cls, data)


def _bytes_to_json(cls: Any, data: bytes, start: int, end: int) -> Any:
    if issubclass(cls, boolean):
        return data[start] == 1
    if issubclass(cls, uint):
        return str(int.from_bytes(data[start:end], "little"))
    if issubclass(cls, (ByteVector, ByteList, Bitvector, Bitlist)):
        return "0x" + data[start:end].hex()
    if issubclass(cls, (List, Vector)):
        element = cls.element_cls()
        if issubclass(element, uint) and not issubclass(element, boolean):
            return [str(number) for number in _unpack_uints(data[start:end], element)]
        if element.is_fixed_byte_length():
            size = element.type_byte_length()
            return [
                _bytes_to_json(element, data, position, position + size)
                for position in range(start, end, size)
            ]
        bounds = _variable_bounds(data, start, end)
        return [_bytes_to_json(element, data, first, last) for first, last in bounds]
    if issubclass(cls, Container):
        return _container_to_json(cls, data, start, end)
    raise TypeError(f"no JSON encoding for {cls.__name__}")


def _container_to_json(cls: Any, data: bytes, start: int, end: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    variable = []
    position = start
    for name, kind in cls.fields().items():
        if kind.is_fixed_byte_length():
            size = kind.type_byte_length()
            out[name] = _bytes_to_json(kind, data, position, position + size)
            position += size
        else:
            offset = int.from_bytes(data[position : position + OFFSET_SIZE], "little")
            variable.append((name, kind, start + offset))
            out[name] = None
            position += OFFSET_SIZE
    ends = [field_start for _, _, field_start in variable[1:]] + [end]
    for (name, kind, field_start), field_end in zip(variable, ends[: len(variable)], strict=True):
        out[name] = _bytes_to_json(kind, data, field_start, field_end)
    return out


def _variable_bounds(data: bytes, start: int, end: int) -> list[tuple[int, int]]:
    if end == start:
        return []
    count = int.from_bytes(data[start : start + OFFSET_SIZE], "little") // OFFSET_SIZE
    offsets = [
        start + int.from_bytes(data[start + 4 * i : start + 4 * i + 4], "little")
        for i in range(count)
    ]
    offsets.append(end)
    return [(offsets[i], offsets[i + 1]) for i in range(count)]


def _unpack_uints(data: bytes, element: Any) -> list[int]:
    size = element.type_byte_length()
    code = _UNPACK_FORMATS.get(size)
    if code is not None:
        return list(struct.unpack(f"<{len(data) // size}{code}", data))
    return [int.from_bytes(data[i : i + size], "little") for i in range(0, len(data), size)]


def _json_to_bytes(cls: Any, obj: Any, where: str) -> bytes:
    """Serialize `obj`, the JSON form of `cls`, to SSZ bytes, checking it on the way."""
    if issubclass(cls, boolean):
        if not isinstance(obj, bool):
            raise _fail(where, "expected true or false", obj)
        return b"\x01" if obj else b"\x00"
    if issubclass(cls, uint):
        size = cls.type_byte_length()
        return _parse_uint(obj, size * 8, where).to_bytes(size, "little")
    if issubclass(cls, ByteVector):
        data = _parse_hex(obj, where)
        if len(data) != cls.type_byte_length():
            raise _fail(where, f"expected {cls.type_byte_length()} bytes, got {len(data)}", obj)
        return data
    if issubclass(cls, ByteList):
        data = _parse_hex(obj, where)
        if len(data) > cls.limit():
            raise _fail(where, f"{len(data)} bytes, over the limit of {cls.limit()}", obj)
        return data
    if issubclass(cls, (Bitvector, Bitlist)):
        data = _parse_hex(obj, where)
        try:
            decode(cls, data)
        except SSZError as error:
            raise _fail(where, error.message.split(": ", 1)[-1], obj) from None
        return data
    if issubclass(cls, (List, Vector)):
        return _sequence_to_bytes(cls, obj, where)
    if issubclass(cls, Container):
        return _container_to_bytes(cls, obj, where)
    raise TypeError(f"no JSON decoding for {cls.__name__}")


def _sequence_to_bytes(cls: Any, obj: Any, where: str) -> bytes:
    if not isinstance(obj, list):
        raise _fail(where, "expected a JSON array", obj)
    if issubclass(cls, Vector):
        if len(obj) != cls.vector_length():
            raise _fail(where, f"expected {cls.vector_length()} elements, got {len(obj)}", None)
    elif len(obj) > cls.limit():
        raise _fail(where, f"{len(obj)} elements, over the limit of {cls.limit()}", None)
    element = cls.element_cls()
    parts = [_json_to_bytes(element, item, f"{where}[{index}]") for index, item in enumerate(obj)]
    if element.is_fixed_byte_length():
        return b"".join(parts)
    return _with_offsets([None] * len(parts), parts)


def _container_to_bytes(cls: Any, obj: Any, where: str) -> bytes:
    if not isinstance(obj, dict):
        raise _fail(where, "expected a JSON object", obj)
    fields = cls.fields()
    unknown = [key for key in obj if key not in fields]
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown field for {cls.__name__}", None)
    head: list[bytes | None] = []
    tail: list[bytes] = []
    for name, kind in fields.items():
        if name not in obj:
            raise _fail(f"{where}.{name}", "missing field", None)
        data = _json_to_bytes(kind, obj[name], f"{where}.{name}")
        if kind.is_fixed_byte_length():
            head.append(data)
        else:
            head.append(None)
            tail.append(data)
    return _with_offsets(head, tail)


def _with_offsets(head: list[bytes | None], tail: list[bytes]) -> bytes:
    """Join a fixed part (None marks an offset slot) and the variable parts it points to."""
    position = sum(OFFSET_SIZE if part is None else len(part) for part in head)
    bodies = iter(tail)
    fixed = []
    for part in head:
        if part is None:
            fixed.append(position.to_bytes(OFFSET_SIZE, "little"))
            position += len(next(bodies))
        else:
            fixed.append(part)
    return b"".join(fixed) + b"".join(tail)


def _parse_uint(obj: Any, bits: int, where: str) -> int:
    if isinstance(obj, bool):
        raise _fail(where, "expected a decimal string, got a boolean", obj)
    if isinstance(obj, int):
        number = obj
    elif isinstance(obj, str) and obj.isdigit() and obj.isascii():
        number = int(obj)
    else:
        raise _fail(where, "expected an unsigned decimal string", obj)
    if number < 0 or number >= 1 << bits:
        raise _fail(where, f"out of range for uint{bits}", obj)
    return number


def _parse_hex(obj: Any, where: str) -> bytes:
    if not isinstance(obj, str) or not obj.startswith("0x"):
        raise _fail(where, "expected a 0x-prefixed hex string", obj)
    try:
        return bytes.fromhex(obj[2:])
    except ValueError:
        raise _fail(where, "invalid hex", obj) from None


def _fail(where: str, problem: str, obj: Any) -> SSZError:
    excerpt = obj if obj is None or len(repr(obj)) <= 80 else repr(obj)[:77] + "..."
    fields: dict[str, Any] = {"path": where}
    if excerpt is not None:
        fields["value"] = excerpt
    return SSZError(f"invalid JSON for {where}: {problem}", **fields)


def to_versioned_json(value: Any) -> dict[str, Any]:
    """Wrap a fork-versioned value as `{"version": "<fork>", "data": <json>}`."""
    return {"version": fork_of(value).lower, "data": to_json(value)}


def from_versioned_json(spec: Any, type_name: str, obj: Any) -> Any:
    """Decode a `{"version", "data"}` envelope into `spec.types(version).<type_name>`.

    Raises:
        SSZError: the envelope is malformed, names an unknown fork, or the
            data does not match the type of that fork.
    """
    if not isinstance(obj, dict) or "version" not in obj or "data" not in obj:
        raise SSZError("invalid JSON envelope: expected an object with version and data")
    version = obj["version"]
    try:
        fork = Fork.from_name(version) if isinstance(version, str) else None
    except ValueError:
        fork = None
    if fork is None:
        raise SSZError("invalid JSON envelope: unknown fork version", value=version)
    cls = getattr(spec.types(fork), type_name, None)
    if not isinstance(cls, type):
        raise SSZError(f"invalid JSON envelope: fork {fork.lower} has no type {type_name}")
    return from_json(cls, obj["data"])
