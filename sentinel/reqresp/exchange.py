"""Encode, read and check whole requests and responses of a `Protocol` over a byte stream.

The serving side reads a request with `read_request`, checks it with
`validate_request`, and sizes the penalty of a request it could not read with
`request_penalty`: a declared length over the bound (`OversizedPayload`) costs
more than other malformed frames, and a request that never arrived costs least.
"""

from typing import Any

import trio

from caplin.config.forks import Fork
from sentinel.peers import Penalty
from sentinel.reqresp import protocols as p
from sentinel.reqresp.codec import (
    CodecError,
    ResponseCode,
    StreamReader,
    encode_payload,
    encode_response_chunk,
    read_framed,
    read_response_chunk,
    read_varint,
)
from sentinel.reqresp.protocols import ForkContext, Protocol, ssz_bounds

UINT64_MAX = 2**64 - 1
# Protocols whose response is exactly one chunk (a success or an error).
SINGLE_CHUNK_PROTOCOLS = frozenset(
    {
        p.STATUS_V1,
        p.STATUS_V2,
        p.PING,
        p.METADATA_V2,
        p.METADATA_V3,
        p.LIGHT_CLIENT_BOOTSTRAP,
        p.LIGHT_CLIENT_FINALITY_UPDATE,
        p.LIGHT_CLIENT_OPTIMISTIC_UPDATE,
    }
)


class OversizedPayload(CodecError):
    """A length prefix above the SSZ type's maximum size or MAX_PAYLOAD_SIZE.

    It is raised before any payload byte is read or decompressed.
    """


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
    length = await read_varint(reader)
    if not min_size <= length <= max_size:
        error = OversizedPayload if length > max_size else CodecError
        raise error(f"declared length {length} is outside {min_size}..{max_size}")
    return _decode(request_type, await read_framed(reader, length))


def request_penalty(error: Exception) -> float:
    """Return the score penalty for a request that could not be read (see `Penalty`)."""
    if isinstance(error, OversizedPayload):
        return Penalty.OVERSIZED
    if isinstance(error, trio.TooSlowError):
        return Penalty.FLOOD
    return Penalty.LOW_TOLERANCE


def validate_request(spec: Any, protocol: Protocol, request: Any) -> str | None:
    """Return why a decoded request is invalid (for an InvalidRequest response), or None.

    Checked: range requests need a count above 0 whose range fits in a uint64 slot,
    BeaconBlocksByRange needs step 1 (the only value the spec allows), and column
    requests need distinct column indices below NUMBER_OF_COLUMNS. A count above
    the protocol's limit is valid: the response contains at most the limit.
    """
    if protocol is p.BLOCKS_BY_RANGE and int(request.step) != 1:
        return f"step is {int(request.step)}, must be 1"
    if protocol in (p.BLOCKS_BY_RANGE, p.BLOBS_BY_RANGE, p.COLUMNS_BY_RANGE):
        start, count = int(request.start_slot), int(request.count)
        if count == 0:
            return "count is 0"
        if start + count - 1 > UINT64_MAX:
            return f"start_slot {start} + count {count} exceeds the uint64 range"
    if protocol is p.LIGHT_CLIENT_UPDATES_BY_RANGE and int(request.count) == 0:
        return "count is 0"
    if protocol is p.COLUMNS_BY_RANGE:
        return _check_columns(spec, request.columns)
    if protocol is p.COLUMNS_BY_ROOT:
        for identifier in request:
            problem = _check_columns(spec, identifier.columns)
            if problem is not None:
                return problem
    return None


def _check_columns(spec: Any, columns: Any) -> str | None:
    indices = [int(column) for column in columns]
    if not indices:
        return "no columns requested"
    if len(set(indices)) != len(indices):
        return "duplicate column indices"
    limit = int(spec.NUMBER_OF_COLUMNS)
    if max(indices) >= limit:
        return f"column index {max(indices)} is not below NUMBER_OF_COLUMNS {limit}"
    return None


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
    on an error chunk and `CodecError` on malformed data, too many chunks, or no
    chunk for a protocol that responds with exactly one.
    """
    if protocol is p.GOODBYE:
        # The spec gives Goodbye a one-chunk response, which Lodestar 1.5.1 sends, while
        # caplin's own host closes the stream without one. Both are accepted.
        max_chunks = max(max_chunks, 1)
    results: list[tuple[Fork, Any]] = []
    if protocol in SINGLE_CHUNK_PROTOCOLS and await reader.at_end():
        raise CodecError(f"{protocol.name} response ended before its one chunk")
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
