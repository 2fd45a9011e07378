"""The beacon node's trio loop: slot clock, duties, status log and the embedded servers.

Each slot has three deadlines, given in basis points of the slot duration by the spec's
config. At the slot start the node ticks fork choice and proposes. At ATTESTATION_DUE_BPS
it sends head votes and sync committee messages. At AGGREGATE_DUE_BPS it sends aggregates
and sync contributions, then advances the head state to the next slot. Each duty runs in a
worker thread. The clock waits for it, and a duty that ends after the next deadline is logged
as late.
"""

import logging
import math
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from caplin.errors import CaplinError, ConfigError
from caplin.metrics import NodeMetrics
from caplin.node.setup import (
    CustomParameters,
    DevChain,
    DevParameters,
    open_custom_chain,
    open_dev_chain,
)
from caplin.storage.archive import DEFAULT_RESTORE_POINT_INTERVAL
from caplin.transition.helpers import compute_epoch_at_slot, get_active_validator_indices
from caplin.validator.client import ValidatorClient

log = logging.getLogger("caplin.node")

STATUS_INTERVAL_SECONDS = 30.0
# Spec config defaults, used only when a config does not set them.
DEFAULT_ATTESTATION_DUE_BPS = 3333
DEFAULT_AGGREGATE_DUE_BPS = 6667


@dataclass
class NodeConfig:
    """Everything `run_node` needs; the CLI builds it from flags."""

    datadir: Path
    dev: DevParameters = field(default_factory=DevParameters)
    db_engine: str = "lmdb"
    genesis_delay: int = 5
    api_enabled: bool = True
    api_addr: str = "127.0.0.1"
    api_port: int = 5555
    api_namespaces: tuple[str, ...] = ()
    api_cors_origins: tuple[str, ...] = ()
    rpc_enabled: bool = True
    rpc_addr: str = "127.0.0.1"
    rpc_port: int = 8545
    metrics_enabled: bool = False
    metrics_addr: str = "127.0.0.1"
    metrics_port: int = 6061
    fee_recipient: bytes = b"\x00" * 20
    status_interval: float = STATUS_INTERVAL_SECONDS
    # A `caplin.node.network.NetworkConfig` turns on networking; None runs no Sentinel.
    network: Any = None
    # The genesis time of a new dev chain (seconds); None starts it `genesis_delay` from now.
    genesis_time: int | None = None
    run_validators: bool = True
    # Keep every finalized state queryable (`--caplin.archive`); fixed per datadir.
    archive: bool = False
    archive_restore_interval: int = DEFAULT_RESTORE_POINT_INTERVAL
    # The config and genesis files of a custom chain; None runs the dev chain of `dev`.
    custom: CustomParameters | None = None


class Node:
    """An open chain with its validator client, driven by `run_slots`."""

    def __init__(self, config: NodeConfig, dev: DevChain) -> None:
        self.config = config
        self.dev = dev
        self.spec = dev.spec
        self.chain = dev.chain
        self.metrics = NodeMetrics()
        self.validators = ValidatorClient(
            dev.chain,
            dev.keys if config.run_validators else [],
            engine=dev.engine,
            txpool=dev.txpool,
            fee_recipient=config.fee_recipient,
            datadir=config.datadir,
        )
        self.missed_slots = 0
        self.late_duties = 0
        self.reader: Any = None
        self.network: Any = None
        self.started = trio.Event()

    # --- time ----------------------------------------------------------------------------

    def slot_start_ms(self, slot: int) -> int:
        return self.dev.genesis_time * 1000 + slot * self.spec.SLOT_DURATION_MS

    def current_slot(self) -> int:
        elapsed = int(time.time() * 1000) - self.dev.genesis_time * 1000
        return max(0, elapsed // self.spec.SLOT_DURATION_MS)

    async def sleep_until_ms(self, deadline_ms: int) -> None:
        delay = deadline_ms / 1000 - time.time()
        if delay > 0:
            await trio.sleep(delay)

    # --- the slot loop -----------------------------------------------------------------

    async def run_slots(self) -> None:
        """Run every slot's duties from the next slot on, forever."""
        spec = self.spec
        attestation_bps = getattr(spec, "ATTESTATION_DUE_BPS", DEFAULT_ATTESTATION_DUE_BPS)
        aggregate_bps = getattr(spec, "AGGREGATE_DUE_BPS", DEFAULT_AGGREGATE_DUE_BPS)
        slot = max(self.current_slot() + 1, self.chain.snapshot.head_slot + 1)
        if time.time() < self.dev.genesis_time:
            log.info(
                "waiting for genesis seconds=%d", math.ceil(self.dev.genesis_time - time.time())
            )
        while True:
            start_ms = self.slot_start_ms(slot)
            await self.sleep_until_ms(start_ms)
            await self._run_duty("tick", self.chain.on_tick, start_ms, slot=slot)
            # A node without validators only follows: it has no duties to run.
            duties = len(self.validators) > 0
            if duties:
                block = await self._run_duty(
                    "propose", self._propose, slot, slot=slot, deadline_bps=attestation_bps
                )
                if block is not None and self.network is not None:
                    # Sidecars first, so peers have the blob data when the block arrives.
                    await self.network.publish_sidecars(self.validators.last_sidecars)
                    await self.network.publish_block(block)
            await self.sleep_until_ms(start_ms + spec.SLOT_DURATION_MS * attestation_bps // 10000)
            await self._run_duty("update_head", self.chain.update_head, slot=slot)
            if duties:
                await self._run_duty(
                    "attest", self.validators.attest, slot, slot=slot, deadline_bps=aggregate_bps
                )
            await self.sleep_until_ms(start_ms + spec.SLOT_DURATION_MS * aggregate_bps // 10000)
            if duties:
                await self._run_duty("aggregate", self.validators.aggregate, slot, slot=slot)
                if self.network is not None:
                    await self.network.publish_aggregates(slot)
            await self._run_duty("update_head", self.chain.update_head, slot=slot)
            # Advancing the head state makes the next block's import start from it. A head
            # far behind the clock (range sync) would need many empty slots for nothing.
            if duties or self.chain.snapshot.head_slot + spec.SLOTS_PER_EPOCH > slot:
                await self._run_duty("prepare", self.validators.prepare, slot + 1, slot=slot)
            self.metrics.update(self.chain, self._active_validator_count())
            if self.network is not None:
                self.metrics.peers.set(len(self.network.connected_peers()))
            next_slot = max(slot + 1, self.current_slot())
            if next_slot > slot + 1:
                skipped = next_slot - slot - 1
                self.missed_slots += skipped
                self.metrics.missed_slots.inc(skipped)
                log.warning("slot clock fell behind skipped_slots=%d slot=%d", skipped, slot)
            slot = next_slot

    async def _run_duty(
        self, name: str, function: Any, *args: Any, slot: int, deadline_bps: int = 10000
    ) -> Any:
        started = time.perf_counter()
        try:
            result = await trio.to_thread.run_sync(function, *args)
        except Exception as error:
            # One failed duty must not stop the slot clock; an unexpected error gets its
            # traceback in the log.
            if isinstance(error, CaplinError):
                log.error("duty failed duty=%s slot=%d error=%s", name, slot, error)
            else:
                log.exception("duty failed duty=%s slot=%d error=%r", name, slot, error)
            if name == "propose":
                self.missed_slots += 1
                self.metrics.missed_slots.inc()
            return None
        deadline_ms = self.slot_start_ms(slot) + self.spec.SLOT_DURATION_MS * deadline_bps // 10000
        if time.time() * 1000 > deadline_ms:
            self.late_duties += 1
            log.warning(
                "duty ended after its deadline duty=%s slot=%d ms=%d",
                name,
                slot,
                (time.perf_counter() - started) * 1000,
            )
        if name == "propose" and result is not None:
            self.metrics.block_processing.observe(time.perf_counter() - started)
        return result

    def _propose(self, slot: int) -> Any:
        return self.validators.propose(slot)

    def _active_validator_count(self) -> int:
        state = self.chain.snapshot.head_state
        epoch = compute_epoch_at_slot(self.spec, int(state.slot))
        return len(get_active_validator_indices(self.spec, state, epoch))

    # --- status --------------------------------------------------------------------------

    async def run_status(self) -> None:
        while True:
            await trio.sleep(self.config.status_interval)
            self.log_status()

    def log_status(self) -> None:
        snapshot = self.chain.snapshot
        log.info(
            "status head_slot=%d head=0x%s justified_epoch=%d finalized_epoch=%d peers=%d "
            "validators=%d missed_slots=%d",
            snapshot.head_slot,
            snapshot.head_root.hex()[:16],
            snapshot.justified.epoch,
            snapshot.finalized.epoch,
            len(self.network.connected_peers()) if self.network is not None else 0,
            len(self.validators),
            self.missed_slots,
        )


async def run_node(
    config: NodeConfig,
    *,
    shutdown: trio.Event | None = None,
    task_status: Any = trio.TASK_STATUS_IGNORED,
) -> None:
    """Open the chain, run the node until `shutdown` is set, then close the databases."""
    shutdown = shutdown if shutdown is not None else trio.Event()
    check_ports(config)
    dev = await trio.to_thread.run_sync(_open_chain, config)
    node: Node | None = None
    try:
        node = Node(config, dev)
        snapshot = node.chain.snapshot
        log.info(
            "node started chain=%s datadir=%s db_engine=%s head_slot=%d finalized_epoch=%d "
            "validators=%d genesis_time=%d",
            "dev" if config.custom is None else "custom",
            config.datadir,
            config.db_engine,
            snapshot.head_slot,
            snapshot.finalized.epoch,
            len(node.validators),
            dev.genesis_time,
        )
        async with trio.open_nursery() as nursery:
            if config.metrics_enabled:
                node.metrics.serve(config.metrics_addr, config.metrics_port)
                log.info(
                    "metrics listening addr=%s port=%d", config.metrics_addr, config.metrics_port
                )
            if config.rpc_enabled and dev.engine is not None:
                await nursery.start(_serve_rpc, node, shutdown)
            elif config.rpc_enabled:
                log.info("eth JSON-RPC not served: this chain has no embedded execution engine")
            if config.network is not None:
                from caplin.node.network import NodeNetwork

                node.network = NodeNetwork(node, config.network)
                await nursery.start(node.network.run)
            if config.api_enabled:
                await _start_api(nursery, node, shutdown)
            nursery.start_soon(node.run_slots)
            nursery.start_soon(node.run_status)
            task_status.started(node)
            await shutdown.wait()
            log.info("node stopping head_slot=%d", node.chain.snapshot.head_slot)
            nursery.cancel_scope.cancel()
    finally:
        # Worker threads finish their duty before the nursery exits, so no write is cut off.
        if node is not None:
            node.validators.close()
        dev.close()
        log.info("node stopped")


def check_ports(config: NodeConfig) -> None:
    """Fail before anything opens when a port the node would listen on is taken.

    Raises:
        ConfigError: naming the port, its address and the flag that moves it.
    """
    wanted: list[tuple[str, int, int, str]] = []
    if config.rpc_enabled:
        wanted.append((config.rpc_addr, config.rpc_port, socket.SOCK_STREAM, "--http.port"))
    if config.metrics_enabled:
        wanted.append(
            (config.metrics_addr, config.metrics_port, socket.SOCK_STREAM, "--metrics.port")
        )
    if config.network is not None:
        network = config.network
        wanted.append(
            (network.listen_host, network.udp_port, socket.SOCK_DGRAM, "--caplin.discovery.port")
        )
        wanted.append(
            (
                network.listen_host,
                network.tcp_port,
                socket.SOCK_STREAM,
                "--caplin.discovery.tcpport",
            )
        )
    for host, port, kind, flag in wanted:
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, kind) as probe:
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                protocol = "TCP" if kind == socket.SOCK_STREAM else "UDP"
                raise ConfigError(
                    f"{protocol} port {port} on {host} is unavailable: stop the other process "
                    f"or choose another port with {flag}",
                    error=error.strerror,
                ) from error


def _open_chain(config: NodeConfig) -> DevChain:
    if config.custom is not None:
        return open_custom_chain(
            config.datadir,
            config.custom,
            db_engine=config.db_engine,
            archive=config.archive,
            archive_restore_interval=config.archive_restore_interval,
        )
    return open_dev_chain(
        config.datadir,
        config.dev,
        db_engine=config.db_engine,
        genesis_delay=config.genesis_delay,
        genesis_time=config.genesis_time,
        archive=config.archive,
        archive_restore_interval=config.archive_restore_interval,
    )


async def _serve_rpc(
    node: Node, shutdown: trio.Event, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    from execution.rpc import EthRpc
    from execution.server import serve_rpc

    rpc = EthRpc(node.dev.engine, node.dev.txpool)
    await serve_rpc(
        rpc, node.config.rpc_addr, node.config.rpc_port, shutdown=shutdown, task_status=task_status
    )


async def _start_api(nursery: Any, node: Node, shutdown: trio.Event) -> None:
    """Start the Beacon API server in `nursery`; it stops when the nursery is cancelled."""
    from beacon_api.server import serve as serve_api
    from caplin.node.reader import NodeChainReader

    node.reader = NodeChainReader(node)
    config = node.config
    options: dict[str, Any] = {"host": config.api_addr, "port": config.api_port}
    if config.api_namespaces:
        options["namespaces"] = config.api_namespaces
    options["cors_origins"] = config.api_cors_origins
    if config.run_validators:
        from caplin.validator.keymanager import open_keymanager

        readonly = {key.pubkey for key in node.dev.keys}
        options["keymanager"] = open_keymanager(node.validators, config.datadir, readonly)
    addresses = await nursery.start(
        lambda task_status: serve_api(node.reader, task_status=task_status, **options)
    )
    log.info("Beacon API listening addresses=%s", ",".join(addresses or []))
