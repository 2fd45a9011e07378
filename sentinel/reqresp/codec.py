"""The `ssz_snappy` req/resp encoding, with size limits checked before any work.

    request        = varint(len(ssz)) || framed_snappy(ssz)
    response_chunk = result (1 byte) || context_bytes (0 or 4) || varint(len(ssz))
                     || framed_snappy(ssz)      (an error chunk carries an ErrorMessage)

The declared length must lie within the SSZ type's bounds and `MAX_PAYLOAD_SIZE`.
The framed-snappy reader stops once it has produced that many bytes, and it
rejects more input than the worst-case compressed size of that length.
"""

from collections.abc import Awaitable, Callable
from enum import IntEnum

import cramjam

STREAM_IDENTIFIER = b"\xff\x06\x00\x00sNaPpY"
CHUNK_COMPRESSED = 0x00
CHUNK_UNCOMPRESSED = 0x01
CHUNK_PADDING = 0xFE
CHUNK_STREAM_IDENTIFIER = 0xFF
MAX_CHUNK_UNCOMPRESSED = 65536
MAX_VARINT_BYTES = 10
# The ErrorMessage of an error response is List[byte, 256].
MAX_ERROR_MESSAGE_SIZE = 256


class ResponseCode(IntEnum):
    """The result byte of a response chunk."""

    SUCCESS = 0
    INVALID_REQUEST = 1
    SERVER_ERROR = 2
    RESOURCE_UNAVAILABLE = 3


class CodecError(ValueError):
    """Malformed, oversized or truncated req/resp data."""


class ErrorResponse(Exception):
    """A peer responded with a non-success result code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"peer returned {code}: {message}")
        self.code = code
        self.message = message


ReadFunction = Callable[[int], Awaitable[bytes]]


class StreamReader:
    """Buffered exact reads over a `read(n) -> bytes` coroutine (b"" at end of stream)."""

    def __init__(self, read: ReadFunction) -> None:
        self._read = read
        self._buffer = bytearray()
        self.bytes_read = 0

    async def _fill(self, size: int) -> bool:
        while len(self._buffer) < size:
            data = await self._read(max(size - len(self._buffer), 4096))
            if not data:
                return False
            self._buffer += data
        return True

    async def read_exactly(self, size: int) -> bytes:
        """Return exactly `size` bytes. Raises `CodecError` when the stream ends first."""
        if not await self._fill(size):
            raise CodecError(f"stream ended after {len(self._buffer)} of {size} bytes")
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.bytes_read += size
        return data

    async def at_end(self) -> bool:
        """Return True when the stream has no more bytes."""
        return not await self._fill(1)


def encode_varint(value: int) -> bytes:
    """Return the unsigned LEB128 (protobuf varint) encoding."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


async def read_varint(reader: StreamReader) -> int:
    """Read a varint of at most 10 bytes. Raises `CodecError` on an overlong one."""
    value = 0
    for position in range(MAX_VARINT_BYTES):
        byte = (await reader.read_exactly(1))[0]
        value |= (byte & 0x7F) << (7 * position)
        if byte < 0x80:
            if byte == 0 and position > 0:
                raise CodecError("varint has a redundant trailing zero byte")
            return value
    raise CodecError("varint longer than 10 bytes")


def max_compressed_length(length: int) -> int:
    """Return the most framed-snappy bytes a well-formed encoding of `length` bytes uses."""
    chunks = max(1, -(-length // MAX_CHUNK_UNCOMPRESSED))
    # Per chunk: 4-byte header, 4-byte checksum, and snappy's worst case 32 + n + n / 6.
    return len(STREAM_IDENTIFIER) + chunks * (8 + 32) + length + length // 6


def compress_framed(data: bytes) -> bytes:
    """Return `data` in the snappy framing format (empty for empty data)."""
    if not data:
        return b""
    return bytes(cramjam.snappy.compress(data))


async def read_framed(reader: StreamReader, length: int) -> bytes:
    """Read framed snappy until it yields exactly `length` bytes.

    Raises `CodecError` when a chunk is malformed, fails its CRC, would produce
    more than `length` bytes, or when the compressed input exceeds the worst
    case for `length`, so hostile input costs at most that much reading.
    """
    if length == 0:
        # An empty payload has no frames: the snappy framed encoding of b"" is empty.
        return b""
    budget = max_compressed_length(length)
    start = reader.bytes_read
    output = bytearray()
    seen_identifier = False
    while len(output) < length or not seen_identifier:
        header = await reader.read_exactly(4)
        kind = header[0]
        size = int.from_bytes(header[1:], "little")
        if reader.bytes_read - start + size > budget:
            raise CodecError(f"compressed input exceeds {budget} bytes for {length} bytes")
        body = await reader.read_exactly(size)

        if kind == CHUNK_STREAM_IDENTIFIER:
            if header + body != STREAM_IDENTIFIER:
                raise CodecError("invalid snappy stream identifier")
            seen_identifier = True
            continue
        if not seen_identifier:
            raise CodecError("snappy stream does not start with its identifier")
        if kind in (CHUNK_COMPRESSED, CHUNK_UNCOMPRESSED):
            if size < 4:
                raise CodecError("snappy chunk shorter than its checksum")
            output += _decode_chunk(header, body, length - len(output))
        elif kind == CHUNK_PADDING or 0x80 <= kind <= 0xFD:
            continue
        else:
            raise CodecError(f"reserved unskippable snappy chunk type {kind:#x}")
    return bytes(output)


def _decode_chunk(header: bytes, body: bytes, remaining: int) -> bytes:
    if header[0] == CHUNK_COMPRESSED:
        declared = _snappy_block_length(body[4:])
        if declared > MAX_CHUNK_UNCOMPRESSED or declared > remaining:
            raise CodecError(f"snappy chunk of {declared} bytes exceeds the declared length")
    elif len(body) - 4 > min(MAX_CHUNK_UNCOMPRESSED, remaining):
        raise CodecError("uncompressed snappy chunk exceeds the declared length")
    # cramjam's framed decoder checks the masked CRC-32C of the chunk.
    try:
        return bytes(cramjam.snappy.decompress(STREAM_IDENTIFIER + header + body))
    except cramjam.DecompressionError as error:
        raise CodecError(f"invalid snappy chunk: {error}") from None


def _snappy_block_length(block: bytes) -> int:
    value = 0
    for position, byte in enumerate(block[:5]):
        value |= (byte & 0x7F) << (7 * position)
        if byte < 0x80:
            return value
    raise CodecError("invalid snappy block length prefix")


def encode_payload(ssz: bytes) -> bytes:
    """Return `varint(len) || framed_snappy(ssz)`."""
    return encode_varint(len(ssz)) + compress_framed(ssz)


async def read_payload(reader: StreamReader, min_size: int, max_size: int) -> bytes:
    """Read one length-prefixed payload whose length must be within [min_size, max_size]."""
    length = await read_varint(reader)
    if not min_size <= length <= max_size:
        raise CodecError(f"declared length {length} is outside {min_size}..{max_size}")
    return await read_framed(reader, length)


def encode_response_chunk(code: ResponseCode, ssz: bytes, context: bytes = b"") -> bytes:
    """Return a response chunk; error chunks (code != SUCCESS) carry no context bytes."""
    if code != ResponseCode.SUCCESS:
        return bytes([code]) + encode_payload(ssz[:MAX_ERROR_MESSAGE_SIZE])
    return bytes([code]) + context + encode_payload(ssz)


async def read_response_chunk(
    reader: StreamReader,
    context_size: int,
    bounds: Callable[[bytes], tuple[int, int]],
) -> tuple[bytes, bytes]:
    """Read one response chunk and return (context_bytes, ssz).

    `bounds(context)` returns the allowed SSZ size range for that context (it
    raises `CodecError` for an unknown fork digest). Raises `ErrorResponse` for
    a non-success result code.
    """
    code = (await reader.read_exactly(1))[0]
    if code != ResponseCode.SUCCESS:
        message = await read_payload(reader, 0, MAX_ERROR_MESSAGE_SIZE)
        raise ErrorResponse(code, message.decode("utf-8", "replace"))
    context = await reader.read_exactly(context_size) if context_size else b""
    min_size, max_size = bounds(context)
    return context, await read_payload(reader, min_size, max_size)
