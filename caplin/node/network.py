"""The node's networking: the Sentinel serving our chain, gossip and range sync.

`NodeNetwork` is the `ChainProvider` the Sentinel reads to respond to peers (Status,
MetaData, BeaconBlocksByRange and BeaconBlocksByRoot from the node's storage, and
BlobSidecarsByRoot and DataColumnSidecarsByRoot from the sidecars seen on gossip). Its
`NodeGossip` subscribes to every topic of the fork (see `caplin.node.gossip`), validates
each message with a `GossipValidator` over fork choice and hands the accepted ones to
block import, fork choice and the pools. It publishes the blocks and aggregates of our
validators.
"""

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coincurve
import trio

from beacon_api.chain import NodeIdentity
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.errors import ConfigError
from caplin.node.gossip import NodeGossip
from caplin.node.pools import OperationPool, SidecarPool, committee_attestation
from caplin.peerdas import (
    compute_subnet_for_data_column_sidecar,
    get_custody_columns,
    get_validators_custody_requirement,
)
from caplin.sync.range_sync import RangeSync
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_start_slot_at_epoch,
    get_beacon_committee,
)
from sentinel.enr import ATTESTATION_SUBNET_COUNT, SYNC_COMMITTEE_SUBNET_COUNT
from sentinel.gossip import ForkChoiceView, GossipValidator
from sentinel.gossip.result import ValidationResult, Verdict
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


def load_node_key(datadir: Path) -> bytes:
    """Return the node's secp256k1 network key from `<datadir>/network/nodekey` (hex),
    creating it on first start, so the peer id and ENR stay the same across restarts.

    Raises:
        ConfigError: the file exists but does not hold a valid key.
    """
    path = datadir / "network" / "nodekey"
    if path.exists():
        text = path.read_text().strip()
        try:
            key = bytes.fromhex(text.removeprefix("0x"))
            coincurve.PrivateKey(key)
        except ValueError as error:
            raise ConfigError(
                "the network key file does not hold a 32-byte hex secp256k1 key; fix it or "
                "delete it to make a new peer id",
                path=path,
            ) from error
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = coincurve.PrivateKey().secret
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.hex() + "\n")
    log.info("created network key path=%s", path)
    return key


class NodeNetwork:
    """The Sentinel of one node, with the chain data it serves and the gossip it follows."""

    def __init__(self, node: Any, config: NetworkConfig) -> None:
        self.node = node
        self.spec = node.spec
        self.chain = node.chain
        self.config = config
        head_state = self.chain.snapshot.head_state
        self.genesis_validators_root = bytes(head_state.genesis_validators_root)
        self.custody_group_count = _custody_group_count(self.spec, head_state, node.validators)
        sentinel_config = SentinelConfig(
            listen_host=config.listen_host,
            udp_port=config.udp_port,
            tcp_port=config.tcp_port,
            enr_ip=config.enr_ip if config.enr_ip else _enr_ip(config.listen_host),
            bootnodes=list(config.bootnodes),
            static_peers=list(config.static_peers),
            target_peers=min(50, config.max_peers),
            max_peers=config.max_peers,
            custody_group_count=self.custody_group_count,
        )
        config_of_node = getattr(node, "config", None)
        datadir = getattr(config_of_node, "datadir", None)
        self.sentinel = Sentinel(
            self.spec,
            load_node_key(Path(datadir)) if datadir is not None else coincurve.PrivateKey().secret,
            self.genesis_validators_root,
            self,
            sentinel_config,
        )
        self.view = ForkChoiceView(self.chain.store)
        self.validator = GossipValidator(self.spec, self.view)
        self.guarded_validator = _GuardedValidator(self.validator, self._far_behind)
        self.sync = RangeSync(self.spec, self.chain, self.sentinel.host, node.current_slot)
        self.record: Any = None
        self.operations = OperationPool()
        self.sidecars = SidecarPool()
        self.metadata_seq = 1
        self.attnets: frozenset[int] = frozenset()
        self.syncnets: frozenset[int] = frozenset()
        self.gossip = NodeGossip(self)
        # Fork choice finds the sidecars of blocks from peers in the gossip pool, and from
        # fulu on it needs only the columns this node custodies.
        self.chain.availability.pool = self.sidecars
        if self.custody_group_count is not None:
            self.chain.availability.custody_columns = get_custody_columns(
                self.spec, self.gossip.node_id, self.custody_group_count
            )

    @property
    def gossip_blocks(self) -> int:
        """Blocks received on gossip and imported."""
        return self.gossip.applied["beacon_block"]

    @property
    def gossip_aggregates(self) -> int:
        """Aggregates received on gossip and applied to fork choice."""
        return self.gossip.applied["beacon_aggregate_and_proof"]

    def _far_behind(self) -> bool:
        """Return True while the head is more than an epoch behind the wall clock."""
        head_slot = self.chain.snapshot.head_slot
        return head_slot + int(self.spec.SLOTS_PER_EPOCH) < self.node.current_slot()

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
        """Return our MetaData: the advertised subnets, and from Fulu the custody group
        count."""
        fork = self.spec.fork_at_epoch(compute_epoch_at_slot(self.spec, self.node.current_slot()))
        fields: dict[str, Any] = {
            "seq_number": self.metadata_seq,
            "attnets": [i in self.attnets for i in range(ATTESTATION_SUBNET_COUNT)],
            "syncnets": [i in self.syncnets for i in range(SYNC_COMMITTEE_SUBNET_COUNT)],
        }
        if fork >= Fork.FULU:
            fields["custody_group_count"] = self.custody_group_count or 0
        return self.spec.types(max(fork, Fork.ALTAIR)).MetaData(**fields)

    def advertise_subnets(self, attnets: frozenset[int], syncnets: frozenset[int]) -> None:
        """Advertise new long-lived attestation and sync committee subnets: MetaData gets a
        higher sequence number and the ENR is signed again. Unchanged subnets do nothing."""
        if (attnets, syncnets) == (self.attnets, self.syncnets):
            return
        self.attnets, self.syncnets = attnets, syncnets
        self.metadata_seq += 1
        self.sentinel.config.attnets = attnets
        self.sentinel.config.syncnets = syncnets
        self.sentinel.refresh_record()
        log.info(
            "advertised subnets changed attnets=%s syncnets=%s seq=%d",
            sorted(attnets),
            sorted(syncnets),
            self.metadata_seq,
        )

    def blocks_by_range(self, start_slot: int, count: int) -> Iterable[Any]:
        """Yield the canonical blocks of [start_slot, start_slot + count) from storage."""
        # TODO(storage): serve the stored SSZ bytes as `EncodedBlock`s. Decoding each block
        # from storage and encoding it again costs about 5 ms per empty minimal block here
        # (bench: 110 blocks/s with decoded blocks, 315 with encoded ones, client included).
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

    def blob_sidecars_by_root(self, identifiers: list[tuple[bytes, int]]) -> list[Any]:
        """Return the blob sidecars among (block root, index) `identifiers`, pooled or stored."""
        found = []
        for root, index in identifiers:
            sidecar = self.sidecars.blob_sidecar(root, index)
            if sidecar is None:
                sidecar = self.chain.sidecar(bytes(root), int(index))
            if sidecar is not None and not hasattr(sidecar, "column"):
                found.append(sidecar)
        return found

    def data_column_sidecars_by_root(self, identifiers: list[tuple[bytes, list[int]]]) -> list[Any]:
        """Return the data column sidecars among (block root, columns) `identifiers`, pooled
        or stored."""
        found = []
        for root, columns in identifiers:
            for column in columns:
                sidecar = self.sidecars.data_column_sidecar(root, column)
                if sidecar is None:
                    sidecar = self.chain.sidecar(bytes(root), int(column))
                if sidecar is not None and hasattr(sidecar, "column"):
                    found.append(sidecar)
        return found

    def blob_sidecars_by_range(self, start_slot: int, count: int) -> Iterable[Any]:
        """Yield the stored blob sidecars of canonical blocks in [start_slot, start_slot + count),
        by slot and index."""
        for root in self._canonical_roots(start_slot, count):
            for sidecar in self.chain.sidecars(root):
                if not hasattr(sidecar, "column"):
                    yield sidecar

    def data_column_sidecars_by_range(
        self, start_slot: int, count: int, columns: list[int]
    ) -> Iterable[Any]:
        """Yield the stored `columns` sidecars of canonical blocks in the range, by slot."""
        wanted = sorted({int(column) for column in columns})
        for root in self._canonical_roots(start_slot, count):
            for column in wanted:
                sidecar = self.chain.sidecar(root, column)
                if sidecar is not None and hasattr(sidecar, "column"):
                    yield sidecar

    def _canonical_roots(self, start_slot: int, count: int) -> Iterator[bytes]:
        # A request covers at most MAX_REQUEST_BLOCKS_DENEB slots, as the p2p spec bounds it.
        count = min(int(count), int(self.spec.MAX_REQUEST_BLOCKS_DENEB))
        head_slot = self.chain.snapshot.head_slot
        for slot in range(start_slot, min(start_slot + count, head_slot + 1)):
            root = self.chain.canonical_root_at_slot(slot)
            if root is not None:
                yield root

    async def publish_sidecars(self, sidecars: list[Any]) -> None:
        """Publish our block's blob or data column sidecars, each on its subnet.

        The proposer publishes them before the block, so a peer that receives the block
        already has its blob data. A failure is logged, not raised.
        """
        for sidecar in sidecars:
            if hasattr(sidecar, "column"):
                topic = "data_column_sidecar"
                subnet = compute_subnet_for_data_column_sidecar(self.spec, int(sidecar.index))
                # Each peer subscribes to its custody subnets only. py-libp2p 0.8 queues a
                # message for every connected peer outside the topic (up to 100 per peer,
                # then it drops the oldest), so columns without a subscribed peer are not sent.
                if not self.sentinel.topic_has_peers(topic, subnet):
                    continue
            else:
                topic = "blob_sidecar"
                subnet = int(sidecar.index) % self._blob_subnet_count(sidecar)
            if not await self.publish(topic, sidecar.encode_bytes(), subnet):
                return

    def _blob_subnet_count(self, sidecar: Any) -> int:
        slot = int(sidecar.signed_block_header.message.slot)
        if compute_epoch_at_slot(self.spec, slot) >= int(self.spec.ELECTRA_FORK_EPOCH):
            return int(self.spec.BLOB_SIDECAR_SUBNET_COUNT_ELECTRA)
        return int(self.spec.BLOB_SIDECAR_SUBNET_COUNT)

    # --- service -----------------------------------------------------------------------

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Start the Sentinel, follow gossip and range-sync until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.sentinel.run)
            await nursery.start(self.gossip.run)
            self.record = self.sentinel.discovery.record
            nursery.start_soon(self.sync.run)
            nursery.start_soon(self._prune_seen_caches)
            task_status.started(self.record)

    async def publish(self, name: str, ssz: bytes, subnet_id: int | None = None) -> bool:
        """Publish SSZ bytes on topic `name` at the current fork digest; return False (and
        log) when gossipsub fails."""
        try:
            await self.sentinel.publish(name, ssz, subnet_id)
        except Exception as error:  # py-libp2p raises its own types on closed streams
            log.warning("gossip publish failed topic=%s error=%r", name, error)
            return False
        return True

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

    async def _prune_seen_caches(self) -> None:
        slot_seconds = self.spec.SLOT_DURATION_MS / 1000
        while True:
            await trio.sleep(slot_seconds)
            self.validator.prune(int(time.time() * 1000))
            snapshot = self.chain.snapshot
            finalized_slot = compute_start_slot_at_epoch(self.spec, snapshot.finalized.epoch)
            self.view.forget_unimported_before(finalized_slot)
            self.operations.prune(snapshot.head_state)
            # The pool keeps gossiped sidecars for two epochs; those of imported blocks are
            # stored with them and served from the database.
            recent = self.node.current_slot() - 2 * int(self.spec.SLOTS_PER_EPOCH)
            self.sidecars.prune(max(finalized_slot, recent))

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

    def peer_connection(self, peer_id: str) -> tuple[str, str]:
        """Return (remote multiaddr, "inbound" or "outbound") of a connected peer's first
        libp2p connection, or ("", "outbound") when the swarm has none."""
        from libp2p.peer.id import ID

        connections = self.sentinel.host.libp2p.get_network().get_connections(
            ID.from_base58(peer_id)
        )
        if not connections:
            return "", "outbound"
        muxed = connections[0].muxed_conn
        secured = getattr(muxed, "secured_conn", None)
        initiator = getattr(secured, "is_initiator", True)
        remote = secured.get_remote_address() if secured is not None else None
        address = f"/ip4/{remote[0]}/tcp/{remote[1]}/p2p/{peer_id}" if remote else ""
        return address, "outbound" if initiator else "inbound"


class _GuardedValidator:
    """A `GossipValidator` whose unexpected errors IGNORE the message instead of raising.

    Validation runs on the trio loop while imports change fork choice in a worker thread,
    so a lookup can meet a store in mid-update. Such a message is dropped and logged.
    """

    def __init__(self, validator: GossipValidator, far_behind: Any = None) -> None:
        self.validator = validator
        self.far_behind = far_behind if far_behind is not None else (lambda: False)

    def validate_message(self, topic: str, data: bytes, now_ms: int) -> ValidationResult:
        # A head epochs behind the clock has the wrong committees and sync committee, so
        # honest votes would fail their checks and their senders be rejected.
        if self.far_behind() and "/beacon_block/" not in topic:
            return ValidationResult(Verdict.IGNORE, "head is too far behind the clock to validate")
        try:
            return self.validator.validate_message(topic, data, now_ms)
        except Exception as error:  # noqa: BLE001 - one message must not stop gossip
            log.warning("gossip validation failed topic=%s error=%r", topic, error)
            return ValidationResult(Verdict.IGNORE, f"validation failed: {error!r}")


def _custody_group_count(spec: Any, state: Any, validators: Any) -> int | None:
    """Return the custody group count to advertise from Fulu, or None on a chain without
    Fulu: the validators' requirement when the node runs any, else CUSTODY_REQUIREMENT."""
    if int(getattr(spec, "FULU_FORK_EPOCH", FAR_FUTURE_EPOCH)) == FAR_FUTURE_EPOCH:
        return None
    indices = list(validators.keys) if validators is not None else []
    if not indices:
        return int(spec.CUSTODY_REQUIREMENT)
    return max(
        int(spec.CUSTODY_REQUIREMENT), get_validators_custody_requirement(spec, state, indices)
    )


def _enr_ip(listen_host: str) -> str | None:
    # An ENR needs a reachable address, so a wildcard listener announces loopback.
    # TODO(network): add a flag for the external address; peers on other hosts cannot
    # dial a record that announces 127.0.0.1.
    return "127.0.0.1" if listen_host == "0.0.0.0" else None
