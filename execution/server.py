"""The HTTP transport of the eth JSON-RPC: an ASGI app served by hypercorn under trio.

`serve_rpc` runs inside the node's trio loop; `RpcServerThread` runs it in
a thread with its own trio loop, for tests and scripts that are not async.
The server listens on 127.0.0.1 by default and only accepts POST bodies up
to `max_body_bytes`.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from execution.rpc import INVALID_REQUEST, EthRpc

logger = logging.getLogger("caplin.execution.server")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8545
DEFAULT_MAX_BODY_BYTES = 5 * 1024 * 1024  # geth's default HTTP request limit
# Requests handled at once, each in a worker thread. Calls hold the GIL while the EVM runs,
# so a few suffice and the node's own block production keeps its share of the CPU.
DEFAULT_MAX_CONCURRENT_REQUESTS = 4

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_app(
    rpc: EthRpc,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_concurrent: int = DEFAULT_MAX_CONCURRENT_REQUESTS,
) -> Any:
    """Build the ASGI app that answers JSON-RPC POSTs at any path."""
    limiter = trio.CapacityLimiter(max_concurrent)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _respond(send, 405, b'{"error":"use POST with a JSON-RPC body"}')
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if len(body) > max_body_bytes:
                await _respond(send, 413, _too_large(max_body_bytes))
                return
            if not message.get("more_body", False):
                break
        response = await trio.to_thread.run_sync(rpc.handle, bytes(body), limiter=limiter)
        await _respond(send, 200, response or b"")

    return app


def _too_large(max_body_bytes: int) -> bytes:
    error = {
        "code": INVALID_REQUEST,
        "message": f"request body too large: at most {max_body_bytes} bytes",
    }
    return json.dumps({"jsonrpc": "2.0", "id": None, "error": error}).encode()


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _config(host: str, port: int) -> Config:
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logger
    return config


async def serve_rpc(
    rpc: EthRpc,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    shutdown: trio.Event | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `rpc` over HTTP until `shutdown` is set (or forever)."""
    shutdown_event = shutdown if shutdown is not None else trio.Event()
    logger.info("eth JSON-RPC listening addr=%s port=%d", host, port)
    await serve(
        make_app(rpc),
        _config(host, port),
        shutdown_trigger=shutdown_event.wait,
        task_status=task_status,
    )
    logger.info("eth JSON-RPC stopped addr=%s port=%d", host, port)


def free_port(host: str = DEFAULT_HOST) -> int:
    """Return a TCP port that was free a moment ago (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RpcServerThread:
    """Run the JSON-RPC server in a background thread; use as a context manager."""

    def __init__(self, rpc: EthRpc, host: str = DEFAULT_HOST, port: int | None = None) -> None:
        self.rpc = rpc
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eth-rpc", daemon=True)
        self._token: trio.lowlevel.TrioToken | None = None
        self._shutdown: trio.Event | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._shutdown = trio.Event()
            async with trio.open_nursery() as nursery:
                await nursery.start(self._serve)
                self._started.set()

        try:
            trio.run(main)
        except BaseException as error:  # reported to start() or stop()
            self._error = error
            self._started.set()

    async def _serve(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await serve_rpc(
            self.rpc, self.host, self.port, shutdown=self._shutdown, task_status=task_status
        )

    def start(self, timeout: float = 10.0) -> RpcServerThread:
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError(f"JSON-RPC server did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"JSON-RPC server failed to start: {self._error!r}")
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._token is not None and self._shutdown is not None and self._thread.is_alive():
            trio.from_thread.run_sync(self._shutdown.set, trio_token=self._token)
        self._thread.join(timeout)

    def __enter__(self) -> RpcServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
