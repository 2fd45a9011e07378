"""A dev execution chain on its own: JSON-RPC plus block production, like Anvil.

    .venv/bin/python -m execution.devnode --port 8545 --block-time 0

With `--block-time 0` a block is built as soon as a transaction arrives
(automine); otherwise one block every `--block-time` seconds when the pool
has transactions. The beacon node normally builds and imports blocks itself;
this runner is for trying the execution side alone.
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from typing import Any

import trio

from execution.engine import MODE_ARCHIVE, MODE_FULL, EmbeddedEngine
from execution.genesis import dev_accounts, dev_genesis, parse_genesis
from execution.node import ExecutionNode
from execution.server import DEFAULT_HOST, DEFAULT_PORT, serve_rpc

logger = logging.getLogger("caplin.execution.devnode")


def build_now(node: ExecutionNode) -> None:
    """Build and import a block with the wall-clock time (at least parent time + 1)."""
    head = node.engine.head()
    node.build_block(timestamp=max(int(time.time()), head.timestamp + 1))


async def produce_on_interval(node: ExecutionNode, block_time: float) -> None:
    """Build a block every `block_time` seconds when the pool has transactions."""
    while True:
        await trio.sleep(block_time)
        if len(node.pool) > 0:
            await trio.to_thread.run_sync(build_now, node)


async def produce_on_transaction(node: ExecutionNode, wakeups: trio.MemoryReceiveChannel) -> None:
    """Build a block after each accepted transaction (automine)."""
    async for _ in wakeups:
        if len(node.pool) > 0:
            await trio.to_thread.run_sync(build_now, node)


async def run_dev_node(
    node: ExecutionNode,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    block_time: float = 0,
    *,
    shutdown: trio.Event | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the JSON-RPC and produce blocks until `shutdown` is set."""
    shutdown_event = shutdown if shutdown is not None else trio.Event()
    token = trio.lowlevel.current_trio_token()
    # One pending wake-up is enough: a build takes every pooled transaction.
    send_wakeup, receive_wakeups = trio.open_memory_channel[None](1)

    def on_transaction(_tx_hash: bytes) -> None:
        # Runs in the RPC worker thread, so the wake-up goes through the trio token.
        try:
            trio.from_thread.run_sync(send_wakeup.send_nowait, None, trio_token=token)
        except trio.WouldBlock:
            pass

    node.rpc.on_transaction = on_transaction

    async def serve(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        await serve_rpc(node.rpc, host, port, shutdown=shutdown_event, task_status=task_status)

    async def produce(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            task_status.started(scope)
            if block_time > 0:
                await produce_on_interval(node, block_time)
            else:
                await produce_on_transaction(node, receive_wakeups)

    async with trio.open_nursery() as nursery:
        await nursery.start(serve)
        producer_scope = await nursery.start(produce)
        task_status.started()
        await shutdown_event.wait()
        # The server stops by itself on the shutdown event; block production is cancelled.
        producer_scope.cancel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a dev execution chain with eth JSON-RPC.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="JSON-RPC TCP port")
    parser.add_argument(
        "--block-time",
        type=float,
        default=0,
        help="seconds between blocks; 0 builds on each transaction",
    )
    parser.add_argument("--datadir", help="LMDB directory; in memory when omitted")
    parser.add_argument("--genesis", help="geth-format genesis JSON; the dev genesis when omitted")
    parser.add_argument("--archive", action="store_true", help="keep every historical state")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    genesis = (
        parse_genesis(args.genesis) if args.genesis else dev_genesis(timestamp=int(time.time()))
    )
    mode = MODE_ARCHIVE if args.archive else MODE_FULL
    if args.datadir:
        engine = EmbeddedEngine.open_lmdb(args.datadir, genesis, mode=mode)
    else:
        engine = EmbeddedEngine.in_memory(genesis, mode=mode)
    node = ExecutionNode(engine)
    if not args.genesis:
        for index, (address, _) in enumerate(dev_accounts()):
            logger.info("dev account index=%d address=0x%s", index, address.hex())
    logger.info(
        "dev execution chain chain_id=%d rpc=http://%s:%d", engine.chain_id, args.host, args.port
    )
    try:
        trio.run(_run_until_signal, node, args.host, args.port, args.block_time)
    finally:
        engine.close()
        logger.info("dev execution chain stopped")


async def _run_until_signal(node: ExecutionNode, host: str, port: int, block_time: float) -> None:
    shutdown = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: run_dev_node(
                    node, host, port, block_time, shutdown=shutdown, task_status=task_status
                )
            )
            async for signum in signals:
                logger.info("dev execution chain stopping signal=%s", signal.Signals(signum).name)
                shutdown.set()
                break


if __name__ == "__main__":
    main()
