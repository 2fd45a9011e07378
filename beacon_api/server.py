"""The Beacon API application and its hypercorn server inside the node's trio loop.

The node calls `serve(chain, ...)` in its nursery, for example::

    bound = await nursery.start(
        functools.partial(serve, chain, host="127.0.0.1", port=5555)
    )

`serve` reports the bound addresses through `task_status` once it listens and runs until
cancelled.
"""

import errno
import logging
from collections.abc import Iterable
from typing import Any

import trio
from fastapi import APIRouter, FastAPI
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve
from starlette.middleware.cors import CORSMiddleware

from beacon_api.chain import ChainReader
from beacon_api.limits import BodyLimitMiddleware
from beacon_api.responses import EXCEPTION_HANDLERS
from beacon_api.routes import (
    blocks,
    config,
    debug,
    events,
    node,
    pool,
    production,
    states,
    validator,
)
from beacon_api.routes import keymanager as keymanager_routes
from caplin.errors import NetworkError

log = logging.getLogger("beacon_api")

# Every namespace the `--beacon.api` flag accepts. Namespaces without routes here (builder,
# lighthouse) are accepted so that a flag naming them is not an error.
NAMESPACES = ("beacon", "builder", "config", "debug", "events", "node", "validator", "lighthouse")
DEFAULT_NAMESPACES = tuple(name for name in NAMESPACES if name != "builder")

ROUTERS: dict[str, tuple[APIRouter, ...]] = {
    "beacon": (blocks.router, states.router, pool.router),
    "config": (config.router,),
    "debug": (debug.router, blocks.debug_router),
    "events": (events.router,),
    "node": (node.router,),
    "validator": (validator.router, production.router),
}


def check_namespaces(namespaces: Iterable[str] | str) -> tuple[str, ...]:
    """Return the namespaces, validated; a string is read as a comma-separated list.

    Raises:
        ValueError: a name is not one of `NAMESPACES`.
    """
    if isinstance(namespaces, str):
        namespaces = namespaces.split(",")
    chosen = tuple(dict.fromkeys(name.strip() for name in namespaces if name.strip()))
    unknown = [name for name in chosen if name not in NAMESPACES]
    if unknown:
        raise ValueError(
            f"unknown Beacon API namespaces {unknown}; expected some of {', '.join(NAMESPACES)}"
        )
    return chosen


def create_app(
    chain: ChainReader,
    namespaces: Iterable[str] | str = DEFAULT_NAMESPACES,
    cors_origins: Iterable[str] = (),
    keymanager: Any = None,
) -> FastAPI:
    """Build the FastAPI app serving the routes of `namespaces` from `chain`.

    With `keymanager` (a `caplin.validator.keymanager.KeyManager`) the app also serves the
    Keymanager API's /eth/v1/keystores routes, behind its bearer token.

    Routes of a namespace left out are not registered, so they return 404.

    Raises:
        ValueError: an unknown namespace.
    """
    enabled = check_namespaces(namespaces)
    app = FastAPI(
        title="caplin Beacon API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.chain = chain
    app.state.namespaces = enabled
    app.state.keymanager = keymanager
    if keymanager is not None:
        app.include_router(keymanager_routes.router)
    for name in enabled:
        for router in ROUTERS.get(name, ()):
            app.include_router(router)

    origins = list(cors_origins)
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            expose_headers=[
                "Eth-Consensus-Version",
                "Eth-Execution-Payload-Blinded",
                "Eth-Execution-Payload-Value",
                "Eth-Consensus-Block-Value",
            ],
        )
    # Outermost, so that an oversized body is rejected before CORS or routing reads it.
    app.add_middleware(BodyLimitMiddleware)
    return app


async def serve(
    chain: ChainReader,
    *,
    host: str = "127.0.0.1",
    port: int = 5555,
    namespaces: Iterable[str] | str = DEFAULT_NAMESPACES,
    cors_origins: Iterable[str] = (),
    keymanager: Any = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the Beacon API on `host:port` until cancelled.

    `task_status.started` receives the bound addresses (`["http://127.0.0.1:5555"]`); port 0
    binds a free port.

    Raises:
        ValueError: an unknown namespace.
        NetworkError: the port is already in use; the message names the port and the flag.
        OSError: the address cannot be bound for another reason.
    """
    app = create_app(chain, namespaces, cors_origins, keymanager)
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("beacon_api.http")
    # Validator clients poll every slot over keep-alive connections, so idle connections stay
    # open longer than a mainnet slot (12 s).
    config.keep_alive_timeout = 30
    log.info(
        "starting Beacon API addr=%s:%d namespaces=%s", host, port, ",".join(app.state.namespaces)
    )
    port_taken = False
    try:
        await hypercorn_serve(app, config, task_status=task_status)  # type: ignore[arg-type]
    except (OSError, BaseExceptionGroup) as error:
        # hypercorn binds inside its own nursery, so the OSError may come in a group.
        if not _address_in_use(error):
            raise
        port_taken = True
        raise NetworkError(
            f"Beacon API port {port} on {host} is already in use: stop the other process or "
            "choose another port with --beacon.api.port",
            port=port,
        ) from None
    finally:
        if not port_taken:
            log.info("stopped Beacon API addr=%s:%d", host, port)


def _address_in_use(error: BaseException) -> bool:
    """Return True when `error`, or every exception inside a group, is EADDRINUSE."""
    if isinstance(error, BaseExceptionGroup):
        return all(_address_in_use(inner) for inner in error.exceptions)
    return isinstance(error, OSError) and error.errno == errno.EADDRINUSE
