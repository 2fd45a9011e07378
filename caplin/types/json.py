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
from collections.abc import Callable
from functools import cache
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
    return _reader_for(type(value))(data, 0, len(data))


def from_json(cls: Any, obj: Any, path: str | None = None) -> Any:
    """Build a value of the SSZ type `cls` from its Beacon-API JSON form.

    Integers may also be given as JSON numbers. Unknown or missing container
    fields are errors.

    Raises:
        SSZError: `obj` does not match `cls`; the message names the field path.
    """
    data = _json_to_bytes(cls, obj, path or cls.__name__)
    return decode(cls, data)


# A reader turns data[start:end], the SSZ bytes of one type, into its JSON form.
Reader = Callable[[bytes, int, int], Any]


def _read_boolean(data: bytes, start: int, end: int) -> bool:
    return data[start] == 1


def _read_uint(data: bytes, start: int, end: int) -> str:
    return str(int.from_bytes(data[start:end], "little"))


def _read_hex(data: bytes, start: int, end: int) -> str:
    return "0x" + data[start:end].hex()


@cache
def _reader_for(cls: Any) -> Reader:
    """Return the cached JSON reader of `cls`, resolved once per class, not per value."""
    if issubclass(cls, boolean):
        return _read_boolean
    if issubclass(cls, uint):
        return _read_uint
    if issubclass(cls, (ByteVector, ByteList, Bitvector, Bitlist)):
        return _read_hex
    if issubclass(cls, (List, Vector)):
        return _sequence_reader(cls.element_cls())
    if issubclass(cls, Container):
        return _container_reader(cls)
    raise TypeError(f"no JSON encoding for {cls.__name__}")


def _sequence_reader(element: Any) -> Reader:
    if issubclass(element, uint) and not issubclass(element, boolean):

        def read_uints(data: bytes, start: int, end: int) -> list[str]:
            return [str(number) for number in _unpack_uints(data[start:end], element)]

        return read_uints

    read_element = _reader_for(element)
    if element.is_fixed_byte_length():
        size = element.type_byte_length()

        def read_fixed(data: bytes, start: int, end: int) -> list[Any]:
            return [read_element(data, at, at + size) for at in range(start, end, size)]

        return read_fixed

    def read_variable(data: bytes, start: int, end: int) -> list[Any]:
        bounds = _variable_bounds(data, start, end)
        return [read_element(data, first, last) for first, last in bounds]

    return read_variable


def _container_reader(cls: Any) -> Reader:
    # (name, reader, size) with size None for a variable-size field read through its offset.
    layout = [
        (
            name,
            _reader_for(kind),
            kind.type_byte_length() if kind.is_fixed_byte_length() else None,
        )
        for name, kind in cls.fields().items()
    ]

    def read(data: bytes, start: int, end: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        variable = []
        position = start
        for name, reader, size in layout:
            if size is None:
                offset = int.from_bytes(data[position : position + OFFSET_SIZE], "little")
                variable.append((name, reader, start + offset))
                out[name] = None
                position += OFFSET_SIZE
            else:
                out[name] = reader(data, position, position + size)
                position += size
        for index, (name, reader, field_start) in enumerate(variable):
            field_end = variable[index + 1][2] if index + 1 < len(variable) else end
            out[name] = reader(data, field_start, field_end)
        return out

    return read


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


class _Problem(Exception):
    """A JSON value that does not fit its type; `segments` collects the path inside out."""

    def __init__(self, problem: str, obj: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.obj = obj
        self.segments: list[str] = []


# A writer turns the JSON form of one type into its SSZ bytes, raising _Problem.
Writer = Callable[[Any], bytes]


def _json_to_bytes(cls: Any, obj: Any, where: str) -> bytes:
    """Serialize `obj`, the JSON form of `cls`, to SSZ bytes, checking it on the way.

    The field path is only assembled when something fails, by each enclosing
    container or list adding its segment as the problem passes through.
    """
    try:
        return _writer_for(cls)(obj)
    except _Problem as problem:
        path = where + "".join(reversed(problem.segments))
        raise _fail(path, problem.problem, problem.obj) from None


@cache
def _writer_for(cls: Any) -> Writer:
    """Return the cached JSON writer of `cls`, resolved once per class, not per value."""
    if issubclass(cls, boolean):
        return _write_boolean
    if issubclass(cls, uint):
        return _uint_writer(cls.type_byte_length())
    if issubclass(cls, ByteVector):
        return _byte_vector_writer(cls.type_byte_length())
    if issubclass(cls, ByteList):
        return _byte_list_writer(cls.limit())
    if issubclass(cls, (Bitvector, Bitlist)):
        return _bitfield_writer(cls)
    if issubclass(cls, (List, Vector)):
        return _sequence_writer(cls)
    if issubclass(cls, Container):
        return _container_writer(cls)
    raise TypeError(f"no JSON decoding for {cls.__name__}")


def _write_boolean(obj: Any) -> bytes:
    if obj is True:
        return b"\x01"
    if obj is False:
        return b"\x00"
    raise _Problem("expected true or false", obj)


def _uint_writer(size: int) -> Writer:
    bits = size * 8

    def write(obj: Any) -> bytes:
        return _parse_uint(obj, bits).to_bytes(size, "little")

    return write


def _byte_vector_writer(length: int) -> Writer:
    def write(obj: Any) -> bytes:
        data = _parse_hex(obj)
        if len(data) != length:
            raise _Problem(f"expected {length} bytes, got {len(data)}", obj)
        return data

    return write


def _byte_list_writer(limit: int) -> Writer:
    def write(obj: Any) -> bytes:
        data = _parse_hex(obj)
        if len(data) > limit:
            raise _Problem(f"{len(data)} bytes, over the limit of {limit}", obj)
        return data

    return write


def _bitfield_writer(cls: Any) -> Writer:
    def write(obj: Any) -> bytes:
        data = _parse_hex(obj)
        try:
            decode(cls, data)
        except SSZError as error:
            raise _Problem(error.message.split(": ", 1)[-1], obj) from None
        return data

    return write


def _sequence_writer(cls: Any) -> Writer:
    element = cls.element_cls()
    write_element = _writer_for(element)
    fixed = element.is_fixed_byte_length()
    exact = cls.vector_length() if issubclass(cls, Vector) else None
    limit = None if exact is not None else cls.limit()

    def write(obj: Any) -> bytes:
        if not isinstance(obj, list):
            raise _Problem("expected a JSON array", obj)
        if exact is not None and len(obj) != exact:
            raise _Problem(f"expected {exact} elements, got {len(obj)}", None)
        if limit is not None and len(obj) > limit:
            raise _Problem(f"{len(obj)} elements, over the limit of {limit}", None)
        parts = []
        for index, item in enumerate(obj):
            try:
                parts.append(write_element(item))
            except _Problem as problem:
                problem.segments.append(f"[{index}]")
                raise
        if fixed:
            return b"".join(parts)
        return _with_offsets([None] * len(parts), parts)

    return write


def _container_writer(cls: Any) -> Writer:
    layout = [
        (name, _writer_for(kind), kind.is_fixed_byte_length())
        for name, kind in cls.fields().items()
    ]
    names = frozenset(name for name, _, _ in layout)
    type_name = cls.__name__

    def write(obj: Any) -> bytes:
        if not isinstance(obj, dict):
            raise _Problem("expected a JSON object", obj)
        if len(obj) != len(names) or not names.issuperset(obj):
            unknown = [key for key in obj if key not in names]
            if unknown:
                problem = _Problem(f"unknown field for {type_name}", None)
                problem.segments.append(f".{unknown[0]}")
                raise problem
        head: list[bytes | None] = []
        tail: list[bytes] = []
        for name, write_field, fixed in layout:
            try:
                data = write_field(obj[name])
            except KeyError:
                problem = _Problem("missing field", None)
                problem.segments.append(f".{name}")
                raise problem from None
            except _Problem as problem:
                problem.segments.append(f".{name}")
                raise
            if fixed:
                head.append(data)
            else:
                head.append(None)
                tail.append(data)
        return _with_offsets(head, tail)

    return write


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


def _parse_uint(obj: Any, bits: int) -> int:
    if isinstance(obj, str):
        if not (obj.isdigit() and obj.isascii()):
            raise _Problem("expected an unsigned decimal string", obj)
        number = int(obj)
    elif isinstance(obj, bool):
        raise _Problem("expected a decimal string, got a boolean", obj)
    elif isinstance(obj, int):
        number = obj
    else:
        raise _Problem("expected an unsigned decimal string", obj)
    if number < 0 or number >> bits:
        raise _Problem(f"out of range for uint{bits}", obj)
    return number


def _parse_hex(obj: Any) -> bytes:
    if not isinstance(obj, str) or not obj.startswith("0x"):
        raise _Problem("expected a 0x-prefixed hex string", obj)
    try:
        return bytes.fromhex(obj[2:])
    except ValueError:
        raise _Problem("invalid hex", obj) from None


def _fail(where: str, problem: str, obj: Any) -> SSZError:
    excerpt = obj if obj is None or len(repr(obj)) <= 80 else repr(obj)[:77] + "..."
    fields: dict[str, Any] = {"path": where}
    if excerpt is not None:
        fields["value"] = excerpt
    return SSZError(f"invalid JSON for {where}: {problem}", **fields)


def to_versioned_json(value: Any, fork: Fork | None = None) -> dict[str, Any]:
    """Wrap a value as `{"version": "<fork>", "data": <json>}`.

    The version is `fork` if given, else `fork_of(value)`. Pass `fork` for a
    class that several forks share (an electra `Attestation` is also fulu's),
    since `fork_of` names the fork that introduced it.
    """
    version = fork if fork is not None else fork_of(value)
    return {"version": Fork(version).lower, "data": to_json(value)}


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
