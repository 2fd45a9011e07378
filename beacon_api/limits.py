"""Request body size limits, enforced before a route reads or parses the body.

Without a limit the server buffered a body of any size, parsed it as JSON and built SSZ views
from it, so one large POST cost time and memory in proportion to its size. The middleware
returns 413 as soon as the declared Content-Length or the bytes received pass the route's
limit.
"""

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MIB = 1024 * 1024

# Block publication carries a whole block, and from deneb its blobs and proofs. The gossip
# limit of an SSZ block is MAX_PAYLOAD_SIZE (10 MiB), and JSON's hex doubles that. The 21
# blobs of the largest mainnet blob schedule entry add about 5.3 MiB of hex, so 32 MiB fits
# both.
BLOCK_BODY_LIMIT = 32 * MIB
# Every other POST: operations, duties and validator queries. 2**16 pubkeys as JSON strings
# (MAX_REQUEST_IDS in beacon_api.submission) take about 6.4 MiB.
DEFAULT_BODY_LIMIT = 8 * MIB

BLOCK_ROUTES = (
    "/eth/v1/beacon/blocks",
    "/eth/v2/beacon/blocks",
    "/eth/v1/beacon/blinded_blocks",
    "/eth/v2/beacon/blinded_blocks",
)


def body_limit(path: str) -> int:
    """Return the maximum request body size in bytes for a route path."""
    return BLOCK_BODY_LIMIT if path.rstrip("/") in BLOCK_ROUTES else DEFAULT_BODY_LIMIT


class BodyLimitMiddleware:
    """ASGI middleware that rejects request bodies larger than `body_limit(path)` with 413.

    The body is read here in full (up to the limit) and replayed to the app, so a rejected
    request never reaches a route.
    """

    def __init__(self, app: ASGIApp, limit_of: Callable[[str], int] = body_limit) -> None:
        self.app = app
        self.limit_of = limit_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_of(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(send, declared, limit, scope.get("path", ""))
            return

        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before sending the whole body.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _reject(send, size, limit, scope.get("path", ""))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(send: Send, size: int, limit: int, path: str) -> None:
    body = orjson.dumps(
        {
            "code": 413,
            "message": f"request body too large: {size} bytes or more, the limit for {path} "
            f"is {limit} bytes",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read, so the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
