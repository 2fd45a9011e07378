"""Response bodies of the Beacon API: JSON through orjson, SSZ on request, and error bodies.

Every error leaves the API as `{"code": <status>, "message": "..."}`, the body the Beacon API
specification defines for 4xx and 5xx responses.
"""

import logging
from collections.abc import Callable
from typing import Any

import orjson
import trio
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from caplin.config.forks import Fork
from caplin.errors import ApiError, CaplinError
from caplin.types.json import to_json
from caplin.types.ssz import encode

log = logging.getLogger("beacon_api")

JSON = "application/json"
SSZ = "application/octet-stream"
VERSION_HEADER = "Eth-Consensus-Version"

# Values whose SSZ encoding is larger than this are encoded in a worker thread, so that a
# state or a large block does not stall the trio loop (block import and other requests).
THREAD_THRESHOLD_BYTES = 64 * 1024


# Lists longer than this are serialized in slices of this many items. orjson holds the GIL for
# a whole `dumps` call, so one call over a large state would stall the trio loop while a worker
# thread serializes it. Between slices the loop thread can run.
DUMPS_SLICE = 2048


def dumps_in_slices(value: Any) -> bytes:
    """Return `orjson.dumps(value)`, serializing long lists (also inside dicts) in slices."""
    if isinstance(value, list) and len(value) > DUMPS_SLICE:
        parts = [
            orjson.dumps(value[start : start + DUMPS_SLICE])[1:-1]
            for start in range(0, len(value), DUMPS_SLICE)
        ]
        return b"[" + b",".join(parts) + b"]"
    if isinstance(value, dict):
        fields = [orjson.dumps(key) + b":" + dumps_in_slices(item) for key, item in value.items()]
        return b"{" + b",".join(fields) + b"}"
    return orjson.dumps(value)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Return `body` (plain JSON data) serialized with orjson."""
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def error_response(status: int, message: str, **extra: Any) -> Response:
    """Return the specification's error body `{"code", "message"}` with any extra fields."""
    return json_response({"code": status, "message": message, **extra}, status=status)


def wants_ssz(request: Request) -> bool:
    """Return True when the client prefers SSZ over JSON in its Accept header.

    Raises:
        ApiError: 406 when the Accept header names neither JSON, SSZ nor a wildcard.
    """
    accept = request.headers.get("accept", "")
    if not accept:
        return False
    best_type, best_quality = JSON, -1.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media in (JSON, SSZ, "*/*", "application/*") and quality > best_quality:
            best_type, best_quality = media, quality
    if best_quality < 0:
        raise ApiError(406, f"unsupported Accept header {accept!r}; use {JSON} or {SSZ}")
    return best_type == SSZ


async def encode_ssz(value: Any) -> bytes:
    """Return the SSZ bytes of `value`, encoding large values in a worker thread."""
    if _is_large(value):
        return await trio.to_thread.run_sync(encode, value)
    return encode(value)


async def encode_json_data(value: Any) -> Any:
    """Return the Beacon-API JSON form of an SSZ value, converting large values in a thread."""
    if _is_large(value):
        return await trio.to_thread.run_sync(to_json, value)
    return to_json(value)


def _is_large(value: Any) -> bool:
    kind = type(value)
    if kind.is_fixed_byte_length():
        return kind.type_byte_length() > THREAD_THRESHOLD_BYTES
    # Variable-size values that can grow large (states, blocks with payloads) go off the loop.
    return kind.__name__ in ("BeaconState", "SignedBeaconBlock", "BeaconBlock", "ExecutionPayload")


async def versioned_response(
    request: Request,
    value: Any,
    fork: Fork,
    *,
    execution_optimistic: bool | None = None,
    finalized: bool | None = None,
) -> Response:
    """Return a fork-versioned SSZ value as JSON `{"version", "data", ...}` or as SSZ bytes.

    Both carry the `Eth-Consensus-Version` header. The flags are added to the JSON body when
    they are not None.
    """
    headers = {VERSION_HEADER: fork.lower}
    if wants_ssz(request):
        data = await encode_ssz(value)
        return Response(data, media_type=SSZ, headers=headers)

    body: dict[str, Any] = {"version": fork.lower}
    if execution_optimistic is not None:
        body["execution_optimistic"] = execution_optimistic
    if finalized is not None:
        body["finalized"] = finalized
    body["data"] = await encode_json_data(value)
    if _is_large(value):
        payload = await trio.to_thread.run_sync(dumps_in_slices, body)
    else:
        payload = orjson.dumps(body)
    return Response(payload, media_type=JSON, headers=headers)


async def ssz_or_json_response(
    request: Request,
    value: Any,
    *,
    execution_optimistic: bool | None = None,
    finalized: bool | None = None,
) -> Response:
    """Return an unversioned SSZ value as `{"data", ...}` JSON, or as SSZ bytes on request."""
    if wants_ssz(request):
        return Response(await encode_ssz(value), media_type=SSZ)
    return data_response(
        await encode_json_data(value),
        execution_optimistic=execution_optimistic,
        finalized=finalized,
    )


def data_response(
    data: Any,
    *,
    execution_optimistic: bool | None = None,
    finalized: bool | None = None,
    version: Fork | None = None,
    status: int = 200,
) -> Response:
    """Return `{"execution_optimistic", "finalized", "data"}` JSON, skipping flags left None."""
    body: dict[str, Any] = {}
    headers = None
    if version is not None:
        body["version"] = version.lower
        headers = {VERSION_HEADER: version.lower}
    if execution_optimistic is not None:
        body["execution_optimistic"] = execution_optimistic
    if finalized is not None:
        body["finalized"] = finalized
    body["data"] = data
    return json_response(body, status=status, headers=headers)


async def threaded_data_response(
    compute: Callable[..., Any],
    *args: Any,
    execution_optimistic: bool,
    finalized: bool,
) -> Response:
    """Return `data_response` of `compute(*args)`, computing and serializing in a worker thread.

    For data built from a whole registry, where both steps take long on large states.
    """

    def build() -> bytes:
        body = {
            "execution_optimistic": execution_optimistic,
            "finalized": finalized,
            "data": compute(*args),
        }
        return dumps_in_slices(body)

    return Response(await trio.to_thread.run_sync(build), media_type=JSON)


# Exception handlers, installed on the app by `beacon_api.server.create_app`.


async def handle_api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message)


async def handle_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    message = str(error.detail) if error.detail else "request failed"
    if error.status_code == 404 and message == "Not Found":
        message = f"route not found: {request.method} {request.url.path}"
    return error_response(error.status_code, message)


async def handle_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in problem.get('loc', ()))}: {problem.get('msg', '')}"
        for problem in error.errors()
    )
    return error_response(400, f"invalid request: {problems}")


async def handle_caplin_error(request: Request, error: Exception) -> Response:
    # An SSZError or another caplin error that escaped a route is the node's fault, not the
    # client's: routes turn client mistakes into ApiError themselves.
    log.error("request failed path=%s error=%s", request.url.path, error)
    return error_response(500, f"internal error: {error}")


async def handle_unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("request failed path=%s", request.url.path)
    return error_response(500, f"internal error: {type(error).__name__}: {error}")


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    StarletteHTTPException: handle_http_error,
    RequestValidationError: handle_validation_error,
    CaplinError: handle_caplin_error,
    Exception: handle_unexpected_error,
}
