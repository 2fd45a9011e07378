"""Fixtures: a real fulu chain and the Beacon API served for it on a loopback port."""

import functools
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import trio
from beacon_api_chain import DevChain

from beacon_api.server import DEFAULT_NAMESPACES, serve

# Slots 1..26 with slot 5 skipped: three epochs of blocks with attestations, enough for a
# justified checkpoint and a skipped slot to look up.
CHAIN_SLOTS = 26
SKIPPED_SLOT = 5


class ServerThread:
    """Run `beacon_api.server.serve` in its own trio loop on a background thread."""

    def __init__(self, chain: Any, namespaces: Any = DEFAULT_NAMESPACES) -> None:
        self.chain = chain
        self.namespaces = namespaces
        self.url = ""
        self._started = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="beacon-api-test", daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as error:  # noqa: BLE001 - reported to the test thread
            self._error = error
            self._started.set()

    async def _main(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        with trio.CancelScope() as scope:
            self._cancel = scope
            async with trio.open_nursery() as nursery:
                start = functools.partial(
                    serve, self.chain, host="127.0.0.1", port=0, namespaces=self.namespaces
                )
                bound = await nursery.start(start)
                self.url = bound[0]
                self._started.set()

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        self._started.wait(timeout=30)
        if self._error is not None:
            raise RuntimeError("Beacon API server failed to start") from self._error
        assert self.url, "Beacon API server did not report its address"
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._token is not None and self._cancel is not None:
            self._token.run_sync_soon(self._cancel.cancel)
        self._thread.join(timeout=30)


@pytest.fixture(scope="session")
def chain() -> DevChain:
    chain = DevChain()
    chain.extend(CHAIN_SLOTS, skip=frozenset({SKIPPED_SLOT}))
    return chain


@pytest.fixture(scope="session")
def server(chain: DevChain) -> Iterator[ServerThread]:
    with ServerThread(chain) as running:
        yield running


@pytest.fixture(scope="session")
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http
