"""Prometheus metrics with the standard beacon-metrics names, plus block and epoch timings."""

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class NodeMetrics:
    """The node's metrics in their own registry (several nodes can run in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.head_slot = Gauge("beacon_head_slot", "Slot of the head block", registry=registry)
        self.head_root = Gauge(
            "beacon_head_root",
            "First 6 bytes of the head block root as an integer (exact in a float64 sample)",
            registry=registry,
        )
        self.finalized_epoch = Gauge(
            "beacon_finalized_epoch", "Epoch of the finalized checkpoint", registry=registry
        )
        self.current_justified_epoch = Gauge(
            "beacon_current_justified_epoch",
            "Epoch of the current justified checkpoint",
            registry=registry,
        )
        self.previous_justified_epoch = Gauge(
            "beacon_previous_justified_epoch",
            "Epoch of the previous justified checkpoint",
            registry=registry,
        )
        self.active_validators = Gauge(
            "beacon_current_active_validators",
            "Active validators in the head state's epoch",
            registry=registry,
        )
        self.reorgs = Counter(
            "beacon_reorgs_total", "Head changes to another branch", registry=registry
        )
        self.processed_deposits = Gauge(
            "beacon_processed_deposits_total",
            "Deposits the head state has processed",
            registry=registry,
        )

        self.peers = Gauge("libp2p_peers", "Connected libp2p peers", registry=registry)

        self.block_processing = Histogram(
            "beacon_block_processing_seconds",
            "Time to import one block (state transition, payload, fork choice, storage)",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.missed_slots = Counter(
            "caplin_missed_slots_total",
            "Slots whose proposal was due but not made",
            registry=registry,
        )
        self._reorgs_seen = 0

    def update(self, chain: Any, active_validators: int) -> None:
        """Copy the chain's head and checkpoints into the gauges."""
        snapshot = chain.snapshot
        self.head_slot.set(snapshot.head_slot)
        self.head_root.set(int.from_bytes(snapshot.head_root[:6], "big"))
        self.finalized_epoch.set(snapshot.finalized.epoch)
        self.current_justified_epoch.set(snapshot.justified.epoch)
        self.previous_justified_epoch.set(snapshot.previous_justified.epoch)
        self.active_validators.set(active_validators)
        self.processed_deposits.set(int(snapshot.head_state.eth1_deposit_index))
        self.peers.set(0)
        if chain.reorgs > self._reorgs_seen:
            self.reorgs.inc(chain.reorgs - self._reorgs_seen)
            self._reorgs_seen = chain.reorgs

    def serve(self, address: str, port: int) -> None:
        """Serve `/metrics` over HTTP from a daemon thread."""
        start_http_server(port, addr=address, registry=self.registry)
