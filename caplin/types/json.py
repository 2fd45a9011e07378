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
from caplin.types.ssz import decode

_UNPACK_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def to_json(value: Any) -> Any:
    """Return the Beacon-API JSON form (dicts, lists, strings, bools) of an SSZ value."""
    cls = type(value)
    if issubclass(cls, boolean):
        return bool(value)
    if issubclass(cls, uint):
        return str(int(value))
    if issubclass(cls, (ByteVector, ByteList)):
        return "0x" + bytes(value).hex()
    if issubclass(cls, (Bitvector, Bitlist)):
        return "0x" + value.encode_bytes().hex()
    if issubclass(cls, (List, Vector)):
        element = cls.element_cls()
        if issubclass(element, uint) and not issubclass(element, boolean):
            return [str(number) for number in _unpack_uints(value, element)]
        return [to_json(item) for item in value]
    if issubclass(cls, Container):
        return {name: to_json(getattr(value, name)) for name in cls.fields()}
    raise TypeError(f"no JSON encoding for {cls.__name__}")


def _unpack_uints(value: Any, element: Any) -> list[int]:
    """Read a list or vector of uints from its SSZ bytes, far faster than per-element views."""
    size = element.type_byte_length()
    data = value.encode_bytes()
    code = _UNPACK_FORMATS.get(size)
    if code is not None:
        return list(struct.unpack(f"<{len(data) // size}{code}", data))
    return [int.from_bytes(data[i : i + size], "little") for i in range(0, len(data), size)]


def from_json(cls: Any, obj: Any, path: str | None = None) -> Any:
    """Build a value of the SSZ type `cls` from its Beacon-API JSON form.

    Integers may also be given as JSON numbers. Unknown or missing container
    fields are errors.

    Raises:
        SSZError: `obj` does not match `cls`; the message names the field path.
    """
    where = path or cls.__name__
    if issubclass(cls, boolean):
        if not isinstance(obj, bool):
            raise _fail(where, "expected true or false", obj)
        return cls(obj)
    if issubclass(cls, uint):
        return cls(_parse_uint(obj, cls.type_byte_length() * 8, where))
    if issubclass(cls, ByteVector):
        data = _parse_hex(obj, where)
        if len(data) != cls.type_byte_length():
            raise _fail(where, f"expected {cls.type_byte_length()} bytes, got {len(data)}", obj)
        return cls(data)
    if issubclass(cls, ByteList):
        data = _parse_hex(obj, where)
        if len(data) > cls.limit():
            raise _fail(where, f"{len(data)} bytes, over the limit of {cls.limit()}", obj)
        return cls(data)
    if issubclass(cls, (Bitvector, Bitlist)):
        data = _parse_hex(obj, where)
        try:
            return decode(cls, data)
        except SSZError as error:
            raise _fail(where, error.message.split(": ", 1)[-1], obj) from None
    if issubclass(cls, (List, Vector)):
        return _sequence_from_json(cls, obj, where)
    if issubclass(cls, Container):
        return _container_from_json(cls, obj, where)
    raise TypeError(f"no JSON decoding for {cls.__name__}")


def _sequence_from_json(cls: Any, obj: Any, where: str) -> Any:
    if not isinstance(obj, list):
        raise _fail(where, "expected a JSON array", obj)
    if issubclass(cls, Vector):
        if len(obj) != cls.vector_length():
            raise _fail(where, f"expected {cls.vector_length()} elements, got {len(obj)}", None)
    elif len(obj) > cls.limit():
        raise _fail(where, f"{len(obj)} elements, over the limit of {cls.limit()}", None)
    element = cls.element_cls()
    items = [from_json(element, item, f"{where}[{index}]") for index, item in enumerate(obj)]
    return cls(*items)


def _container_from_json(cls: Any, obj: Any, where: str) -> Any:
    if not isinstance(obj, dict):
        raise _fail(where, "expected a JSON object", obj)
    fields = cls.fields()
    unknown = [key for key in obj if key not in fields]
    if unknown:
        raise _fail(f"{where}.{unknown[0]}", f"unknown field for {cls.__name__}", None)
    values = {}
    for name, kind in fields.items():
        if name not in obj:
            raise _fail(f"{where}.{name}", "missing field", None)
        values[name] = from_json(kind, obj[name], f"{where}.{name}")
    return cls(**values)


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
