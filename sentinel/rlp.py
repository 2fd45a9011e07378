"""RLP (recursive length prefix) encoding, as ENRs and discv5 messages use it.

An item is `bytes` or a list of items. Integers are encoded as their minimal
big-endian bytes (zero is the empty string), and decoded with `decode_int`.
"""

type Item = bytes | list[Item]


class RLPError(ValueError):
    """Invalid or non-canonical RLP input."""


def encode_int(value: int) -> bytes:
    """Return the minimal big-endian bytes of a non-negative integer."""
    if value < 0:
        raise RLPError(f"cannot RLP-encode negative integer {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_int(data: bytes, max_bytes: int = 8) -> int:
    """Decode a big-endian integer, rejecting leading zeros and more than `max_bytes` bytes."""
    if len(data) > max_bytes:
        raise RLPError(f"integer of {len(data)} bytes exceeds {max_bytes} bytes")
    if data[:1] == b"\x00":
        raise RLPError("integer has a leading zero byte")
    return int.from_bytes(data, "big")


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = encode_int(length)
    return bytes([offset + 55 + len(encoded)]) + encoded


def encode(item: Item | int) -> bytes:
    """Encode an item (bytes, int or nested lists of them)."""
    if isinstance(item, int):
        item = encode_int(item)
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    payload = b"".join(encode(element) for element in item)
    return _length_prefix(len(payload), 0xC0) + payload


def _read_length(data: bytes, position: int, size: int) -> int:
    if position + size > len(data):
        raise RLPError("RLP length prefix runs past the end of the input")
    raw = data[position : position + size]
    if raw[0] == 0:
        raise RLPError("RLP long length has a leading zero byte")
    length = int.from_bytes(raw, "big")
    if length < 56:
        raise RLPError("RLP long length used for a short item")
    return length


def _decode_at(data: bytes, position: int) -> tuple[Item, int]:
    if position >= len(data):
        raise RLPError("RLP input ended before an item")
    prefix = data[position]
    if prefix < 0x80:
        return data[position : position + 1], position + 1

    if prefix < 0xB8:
        start, length, is_list = position + 1, prefix - 0x80, False
    elif prefix < 0xC0:
        size = prefix - 0xB7
        start, length, is_list = position + 1 + size, _read_length(data, position + 1, size), False
    elif prefix < 0xF8:
        start, length, is_list = position + 1, prefix - 0xC0, True
    else:
        size = prefix - 0xF7
        start, length, is_list = position + 1 + size, _read_length(data, position + 1, size), True

    end = start + length
    if end > len(data):
        raise RLPError(f"RLP item of {length} bytes runs past the end of the input")
    if not is_list:
        if length == 1 and data[start] < 0x80:
            raise RLPError("single byte below 0x80 must be encoded as itself")
        return data[start:end], end

    items: list[Item] = []
    cursor = start
    while cursor < end:
        element, cursor = _decode_at(data, cursor)
        items.append(element)
    if cursor != end:
        raise RLPError("RLP list content does not match its length")
    return items, end


def decode(data: bytes) -> Item:
    """Decode exactly one item. Raises `RLPError` on trailing bytes or invalid input."""
    item, end = _decode_at(bytes(data), 0)
    if end != len(data):
        raise RLPError(f"{len(data) - end} trailing bytes after the RLP item")
    return item


def decode_prefix(data: bytes) -> tuple[Item, int]:
    """Decode the first item of `data`, returning it and the number of bytes it used."""
    return _decode_at(bytes(data), 0)
