"""Encode and read whole requests and responses of a `Protocol` over a byte stream."""

from typing import Any

from caplin.config.forks import Fork
from sentinel.reqresp.codec import (
    CodecError,
    ResponseCode,
    StreamReader,
    encode_payload,
    encode_response_chunk,
    read_payload,
    read_response_chunk,
)
from sentinel.reqresp.protocols import ForkContext, Protocol, ssz_bounds


def encode_request(protocol: Protocol, request: Any) -> bytes:
    """Return the request bytes (empty for protocols without a request body)."""
    if request is None:
        return b""
    return encode_payload(request.encode_bytes())


async def read_request(reader: StreamReader, protocol: Protocol, spec: Any, fork: Fork) -> Any:
    """Read and decode a request for `protocol` at `fork`. Raises `CodecError` if invalid."""
    request_type = protocol.request_type(spec, fork)
    if request_type is None:
        return None
    min_size, max_size = ssz_bounds(request_type, spec)
    data = await read_payload(reader, min_size, max_size)
    return _decode(request_type, data)


def _decode(ssz_type: type, data: bytes) -> Any:
    try:
        return ssz_type.decode_bytes(data)
    except Exception as error:  # remerkleable raises several exception types on bad input
        raise CodecError(f"invalid {ssz_type.__name__} SSZ: {error}") from None


def encode_success(protocol: Protocol, value: Any, context: bytes = b"") -> bytes:
    """Return one success chunk; `context` is the fork digest when the protocol has one."""
    if protocol.has_context and len(context) != 4:
        raise ValueError(f"{protocol.protocol_id} needs 4 context bytes")
    return encode_response_chunk(ResponseCode.SUCCESS, value.encode_bytes(), context)


def encode_error(code: ResponseCode, message: str) -> bytes:
    """Return one error chunk with an ErrorMessage (at most 256 bytes of UTF-8)."""
    return encode_response_chunk(code, message.encode()[:256])


async def read_responses(
    reader: StreamReader,
    protocol: Protocol,
    spec: Any,
    forks: ForkContext | None,
    max_chunks: int,
    fork: Fork = Fork.PHASE0,
) -> list[tuple[Fork, Any]]:
    """Read up to `max_chunks` response chunks until the stream ends.

    Without context bytes every chunk decodes at `fork`. Raises `ErrorResponse`
    on an error chunk and `CodecError` on malformed data or too many chunks.
    """
    results: list[tuple[Fork, Any]] = []
    while not await reader.at_end():
        if len(results) >= max_chunks:
            raise CodecError(f"response has more than {max_chunks} chunks")
        context, data = await read_response_chunk(
            reader, 4 if protocol.has_context else 0, _bounds_of(protocol, spec, forks, fork)
        )
        chunk_fork = _chunk_fork(protocol, forks, context, fork)
        results.append((chunk_fork, _decode(protocol.response_type(spec, chunk_fork), data)))
    return results


def _chunk_fork(protocol: Protocol, forks: ForkContext | None, context: bytes, fork: Fork) -> Fork:
    if not protocol.has_context:
        return fork
    if forks is None:
        raise CodecError("context bytes need a ForkContext")
    return forks.fork_of_digest(context)


def _bounds_of(protocol: Protocol, spec: Any, forks: ForkContext | None, fork: Fork):
    def bounds(context: bytes) -> tuple[int, int]:
        response_type = protocol.response_type(spec, _chunk_fork(protocol, forks, context, fork))
        return ssz_bounds(response_type, spec)

    return bounds
