"""The node's networking: the Sentinel serving our chain, block gossip and range sync.

`NodeNetwork` is the `ChainProvider` the Sentinel reads to respond to peers (Status,
MetaData, BeaconBlocksByRange and BeaconBlocksByRoot from the node's storage). It
subscribes to `beacon_block`, validates each message with a `GossipValidator` over fork
choice, imports the accepted blocks, and publishes the blocks our validators propose.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import coincurve
import trio

from beacon_api.chain import NodeIdentity
from caplin.errors import CaplinError
from caplin.node.pools import committee_attestation
from caplin.sync.range_sync import RangeSync
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_start_slot_at_epoch,
    get_beacon_committee,
)
from sentinel.gossip import ForkChoiceView, GossipValidator
from sentinel.gossip.result import ValidationResult, Verdict
from sentinel.gossip.topics import decompress_payload, parse_topic
from sentinel.service import Sentinel, SentinelConfig

log = logging.getLogger("caplin.node.network")

ZERO_ROOT = b"\x00" * 32


@dataclass
class NetworkConfig:
    """Addresses and peers of the node's Sentinel (the `--caplin.discovery.*` and
    `--sentinel.*` flags). Port 0 picks a free port."""

    listen_host: str = "0.0.0.0"
    udp_port: int = 4000
    tcp_port: int = 4001
    enr_ip: str | None = None
    bootnodes: list[str] = field(default_factory=list)
    static_peers: list[str] = field(default_factory=list)
    max_peers: int = 64


class NodeNetwork:
    """The Sentinel of one node, with the chain data it serves and the gossip it follows."""

    def __init__(self, node: Any, config: NetworkConfig) -> None:
        self.node = node
        self.spec = node.spec
        self.chain = node.chain
        self.config = config
        head_state = self.chain.snapshot.head_state
        self.genesis_validators_root = bytes(head_state.genesis_validators_root)
        sentinel_config = SentinelConfig(
            listen_host=config.listen_host,
            udp_port=config.udp_port,
            tcp_port=config.tcp_port,
            enr_ip=config.enr_ip if config.enr_ip else _enr_ip(config.listen_host),
            bootnodes=list(config.bootnodes),
            static_peers=list(config.static_peers),
            target_peers=min(50, config.max_peers),
            max_peers=config.max_peers,
        )
        self.sentinel = Sentinel(
            self.spec,
            coincurve.PrivateKey().secret,
            self.genesis_validators_root,
            self,
            sentinel_config,
        )
        self.view = ForkChoiceView(self.chain.store)
        self.validator = GossipValidator(self.spec, self.view)
        self.guarded_validator = _GuardedValidator(self.validator)
        self.sync = RangeSync(self.spec, self.chain, self.sentinel.host, node.current_slot)
        self.record: Any = None
        self.gossip_blocks = 0
        self.gossip_aggregates = 0

    # --- ChainProvider -----------------------------------------------------------------

    def _fork_digest(self) -> bytes:
        epoch = compute_epoch_at_slot(self.spec, self.node.current_slot())
        return bytes(self.sentinel.forks.digest_at_epoch(epoch))

    def status(self) -> Any:
        """Return our Status: the fork digest now in force, finality and the head."""
        snapshot = self.chain.snapshot
        epoch = compute_epoch_at_slot(self.spec, self.node.current_slot())
        fork = self.spec.fork_at_epoch(epoch)
        # The genesis checkpoint has a zero root, as in the genesis state.
        finalized_root = snapshot.finalized.root if snapshot.finalized.epoch > 0 else ZERO_ROOT
        fields = {
            "fork_digest": self._fork_digest(),
            "finalized_root": finalized_root,
            "finalized_epoch": snapshot.finalized.epoch,
            "head_root": snapshot.head_root,
            "head_slot": snapshot.head_slot,
        }
        status_type = self.spec.types(fork).Status
        if hasattr(self.spec.types(fork), "StatusV2"):
            # Fulu: Status v2 adds the earliest slot this node serves blocks from.
            status_type = self.spec.types(fork).StatusV2
            # A dev chain keeps every block from genesis on.
            fields["earliest_available_slot"] = 0
        return status_type(**fields)

    def metadata(self) -> Any:
        """Return our MetaData: no attestation or sync committee subnets subscribed."""
        fork = self.spec.fork_at_epoch(compute_epoch_at_slot(self.spec, self.node.current_slot()))
        return self.spec.types(max(fork, type(fork).ALTAIR)).MetaData(seq_number=1)

    def blocks_by_range(self, start_slot: int, count: int) -> Iterable[Any]:
        """Yield the canonical blocks of [start_slot, start_slot + count) from storage."""
        head_slot = self.chain.snapshot.head_slot
        for slot in range(start_slot, min(start_slot + count, head_slot + 1)):
            root = self.chain.canonical_root_at_slot(slot)
            if root is None:
                continue
            block = self.chain.block(root)
            if block is not None:
                yield block

    def blocks_by_root(self, roots: list[bytes]) -> Iterable[Any]:
        """Yield the stored blocks among `roots`."""
        for root in roots:
            block = self.chain.block(bytes(root))
            if block is not None:
                yield block

    # --- service -----------------------------------------------------------------------

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Start the Sentinel, follow block gossip and range-sync until cancelled."""
        async with trio.open_nursery() as nursery:
            self.record = await nursery.start(self.sentinel.run)
            blocks = await self.sentinel.subscribe(
                "beacon_block",
                validator=self.guarded_validator,  # type: ignore[arg-type]
            )
            nursery.start_soon(self._import_gossip_blocks, blocks)
            aggregates = await self.sentinel.subscribe(
                "beacon_aggregate_and_proof",
                validator=self.guarded_validator,  # type: ignore[arg-type]
            )
            nursery.start_soon(self._apply_gossip_aggregates, aggregates)
            nursery.start_soon(self.sync.run)
            nursery.start_soon(self._prune_seen_caches)
            task_status.started(self.record)

    async def publish_block(self, signed_block: Any) -> None:
        """Publish one of our blocks on `beacon_block`. A failure is logged, not raised."""
        try:
            await self.sentinel.publish("beacon_block", signed_block.encode_bytes())
        except Exception as error:  # py-libp2p raises its own types on closed streams
            log.warning(
                "block publish failed slot=%d error=%r", int(signed_block.message.slot), error
            )

    async def publish_aggregates(self, slot: int) -> int:
        """Sign and publish our aggregates of `slot` on `beacon_aggregate_and_proof`.

        Call it after the aggregate duty. Returns how many were published.
        """
        encoded = await trio.to_thread.run_sync(self._signed_aggregates, slot)
        published = 0
        for ssz in encoded:
            try:
                await self.sentinel.publish("beacon_aggregate_and_proof", ssz)
            except Exception as error:  # py-libp2p raises its own types on closed streams
                log.warning("aggregate publish failed slot=%d error=%r", slot, error)
                break
            published += 1
        return published

    def _signed_aggregates(self, slot: int) -> list[bytes]:
        validators = self.node.validators
        if not len(validators):
            return []
        _, state = validators.head_state_at(slot)
        fork = self.spec.fork_of(state)
        encoded = []
        for aggregate in validators.attestations.aggregates_at(slot):
            committee = get_beacon_committee(self.spec, state, slot, aggregate.committee_index)
            attestation = committee_attestation(self.spec, fork, aggregate)
            # TODO(shared): use a public ValidatorClient method once it returns its signed
            # aggregates; the aggregate duty signs them and drops them today.
            signed = validators._sign_aggregate(state, slot, list(committee), attestation)
            if signed is not None:
                encoded.append(signed.encode_bytes())
        return encoded

    async def _apply_gossip_aggregates(self, queue: trio.MemoryReceiveChannel) -> None:
        async for message in queue:
            try:
                signed = self._decode(message, "SignedAggregateAndProof")
            except (ValueError, KeyError) as error:
                log.debug("gossip aggregate not decoded error=%s", error)
                continue
            try:
                await trio.to_thread.run_sync(self.chain.on_attestation, signed.message.aggregate)
            except CaplinError as error:
                log.debug("gossip aggregate not applied error=%s", error)
                continue
            # TODO(pools): add received aggregates to the attestation pool too, so a
            # proposer without the votes can include them; the pool takes single votes.
            self.gossip_aggregates += 1

    async def _import_gossip_blocks(self, queue: trio.MemoryReceiveChannel) -> None:
        async for message in queue:
            try:
                signed_block = self._decode(message, "SignedBeaconBlock")
            except (ValueError, KeyError) as error:
                log.debug("gossip block not decoded error=%s", error)
                continue
            slot = int(signed_block.message.slot)
            try:
                await trio.to_thread.run_sync(self.chain.import_block, signed_block)
            except CaplinError as error:
                # An unknown parent means we are behind: range sync fetches the gap.
                log.info("gossip block not imported slot=%d error=%s", slot, error)
                self.sync.wake()
                continue
            self.gossip_blocks += 1
            log.debug("gossip block imported slot=%d", slot)

    def _decode(self, message: Any, type_name: str) -> Any:
        """Decode an accepted gossip message as `type_name` of its topic's fork."""
        topic = parse_topic(list(message.topicIDs)[0])
        fork = self.sentinel.forks.fork_of_digest(topic.fork_digest)
        data = decompress_payload(self.spec, bytes(message.data))
        return getattr(self.spec.types(fork), type_name).decode_bytes(data)

    async def _prune_seen_caches(self) -> None:
        slot_seconds = self.spec.SLOT_DURATION_MS / 1000
        while True:
            await trio.sleep(slot_seconds)
            self.validator.prune(int(time.time() * 1000))
            finalized = self.chain.snapshot.finalized.epoch
            self.view.forget_unimported_before(compute_start_slot_at_epoch(self.spec, finalized))

    # --- Beacon API views --------------------------------------------------------------

    def identity(self) -> NodeIdentity:
        """Return our peer id, ENR and addresses for `/eth/v1/node/identity`."""
        record = self.sentinel.discovery.record
        peer_id = self.sentinel.host.peer_id
        p2p_addresses = [
            f"{address}/p2p/{peer_id}" for address in self.sentinel.host.libp2p.get_addrs()
        ]
        discovery = []
        if record.ip is not None and record.udp:
            discovery.append(f"/ip4/{record.ip}/udp/{record.udp}/p2p/{peer_id}")
        metadata = self.metadata()
        return NodeIdentity(
            peer_id=peer_id,
            enr=record.to_text(),
            p2p_addresses=p2p_addresses,
            discovery_addresses=discovery,
            seq_number=int(metadata.seq_number),
            attnets=metadata.attnets.encode_bytes(),
            syncnets=metadata.syncnets.encode_bytes(),
        )

    def connected_peers(self) -> list[str]:
        """Return the peer ids of the connected peers."""
        return list(self.sentinel.host.peers.connected)


class _GuardedValidator:
    """A `GossipValidator` whose unexpected errors IGNORE the message instead of raising.

    Validation runs on the trio loop while imports change fork choice in a worker thread,
    so a lookup can meet a store in mid-update. Such a message is dropped and logged.
    """

    def __init__(self, validator: GossipValidator) -> None:
        self.validator = validator

    def validate_message(self, topic: str, data: bytes, now_ms: int) -> ValidationResult:
        try:
            return self.validator.validate_message(topic, data, now_ms)
        except Exception as error:  # noqa: BLE001 - one message must not stop gossip
            log.warning("gossip validation failed topic=%s error=%r", topic, error)
            return ValidationResult(Verdict.IGNORE, f"validation failed: {error!r}")


def _enr_ip(listen_host: str) -> str | None:
    # An ENR needs a reachable address, so a wildcard listener announces loopback.
    # TODO(network): add a flag for the external address; peers on other hosts cannot
    # dial a record that announces 127.0.0.1.
    return "127.0.0.1" if listen_host == "0.0.0.0" else None
