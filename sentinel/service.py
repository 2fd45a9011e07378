"""The sentinel: discv5, the libp2p host, gossipsub and the peer manager as one service.

The node starts it in its trio nursery:

    sentinel = Sentinel(spec, private_key, genesis_validators_root, chain, SentinelConfig(...))
    await nursery.start(sentinel.run)
    blocks = await sentinel.host.blocks_by_range(peer_id, start_slot, count)
    queue = await sentinel.pubsub.subscribe_topic(sentinel.topic("beacon_block"))

`run` binds UDP and TCP and publishes the local ENR (ip, tcp, udp, eth2,
attnets, syncnets, and cgc from Fulu). It then adds the bootnodes and dials the
static peers. Every few seconds, while fewer than `target_peers` are connected,
it looks up a random node id and dials the peers found on the same fork digest.
"""

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import trio

from caplin.config.constants import FAR_FUTURE_EPOCH
from sentinel.discv5.service import DiscoveryError, Discv5Service
from sentinel.enr import (
    ATTESTATION_SUBNET_COUNT,
    ENR,
    SYNC_COMMITTEE_SUBNET_COUNT,
    ENRError,
    ENRForkID,
    encode_bitvector,
)
from sentinel.gossip import GossipTopic, GossipValidator
from sentinel.gossip.subscriptions import DigestPeriod, digest_schedule
from sentinel.gossip.topics import compress_payload
from sentinel.gossipsub import EthereumPubsub
from sentinel.host import ChainProvider, HostConfig, SentinelHost, enr_multiaddr
from sentinel.reqresp.codec import CodecError, ErrorResponse
from sentinel.reqresp.protocols import ForkContext

log = logging.getLogger("sentinel")

DISCOVERY_INTERVAL_SECONDS = 5.0
DIAL_TIMEOUT_SECONDS = 10.0
GOSSIP_REJECT_PENALTY = 10.0


@dataclass
class SentinelConfig:
    """Addresses, peers and limits (the `--caplin.discovery.*` and `--sentinel.*` flags)."""

    listen_host: str = "127.0.0.1"
    udp_port: int = 4000
    tcp_port: int = 4001
    # The address put in the ENR; defaults to `listen_host`.
    enr_ip: str | None = None
    bootnodes: list[str] = field(default_factory=list)
    static_peers: list[str] = field(default_factory=list)
    target_peers: int = 50
    max_peers: int = 64
    muxers: tuple[str, ...] = ("mplex", "yamux")
    attnets: frozenset[int] = frozenset()
    syncnets: frozenset[int] = frozenset()
    custody_group_count: int | None = None


def parse_bootnodes(values: list[str]) -> list[ENR]:
    """Parse `--sentinel.bootnodes` values: `enr:` records, comma-separated or repeated.

    Raises `ValueError` naming the first invalid entry.
    """
    records = []
    for value in _split(values):
        try:
            records.append(ENR.from_text(value))
        except ENRError as error:
            raise ValueError(f"invalid bootnode {value[:40]}...: {error}") from None
    return records


def parse_static_peers(values: list[str]) -> list[str]:
    """Parse `--sentinel.staticpeers` values: multiaddrs with /p2p/ ids, or `enr:` records.

    Returns multiaddrs. Raises `ValueError` for an entry that is neither.
    """
    addresses = []
    for value in _split(values):
        if value.startswith("enr:"):
            try:
                address = enr_multiaddr(ENR.from_text(value))
            except ENRError as error:
                raise ValueError(f"invalid static peer {value[:40]}...: {error}") from None
            if address is None:
                raise ValueError(f"static peer record {value[:40]}... has no ip and tcp port")
            addresses.append(address)
        elif value.startswith("/") and "/p2p/" in value:
            addresses.append(value)
        else:
            raise ValueError(f"static peer {value!r} is neither an ENR nor a /p2p/ multiaddr")
    return addresses


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class Sentinel:
    """Networking of one beacon node on one chain."""

    def __init__(
        self,
        spec: Any,
        private_key: bytes,
        genesis_validators_root: bytes,
        chain: ChainProvider,
        config: SentinelConfig | None = None,
    ) -> None:
        self.spec = spec
        self.private_key = private_key
        self.chain = chain
        self.config = config or SentinelConfig()
        self.forks = ForkContext(spec, genesis_validators_root)
        self.periods = digest_schedule(spec, genesis_validators_root)
        self.static_peers = parse_static_peers(self.config.static_peers)
        host_config = HostConfig(
            listen_host=self.config.listen_host,
            tcp_port=self.config.tcp_port,
            muxers=self.config.muxers,
            target_peers=self.config.target_peers,
            max_peers=self.config.max_peers,
            static_peers=self.static_peers,
        )
        self.host = SentinelHost(spec, private_key, self.forks, chain, host_config)
        self.pubsub = EthereumPubsub(self.host.libp2p, spec, self.forks)
        self.discovery = Discv5Service(
            private_key, ENR.create(private_key, ip=self._enr_ip(), udp=0), self.config.listen_host
        )
        self.discovery.port = self.config.udp_port
        self._dialing: set[bytes] = set()

    def _enr_ip(self) -> str:
        return self.config.enr_ip or self.config.listen_host

    @property
    def fork_digest(self) -> bytes:
        """The fork digest of the local Status (the chain head's fork)."""
        return bytes(self.chain.status().fork_digest)

    def topic(self, name: str, subnet_id: int | None = None) -> str:
        """Return the gossip topic string of `name` at the current fork digest."""
        return str(GossipTopic(self.fork_digest, name, subnet_id))

    def enr_fork_id(self) -> ENRForkID:
        """Return the `eth2` ENR value: current digest and the next scheduled fork.

        From Fulu a blob schedule entry counts as a fork for `next_fork_epoch`, while
        `next_fork_version` stays the current version for it. Without a next fork the
        version is the current one and the epoch FAR_FUTURE_EPOCH.
        """
        current = self.forks.fork_of_digest(self.fork_digest)
        following = self.next_digest_period()
        if following is None:
            return ENRForkID(
                self.fork_digest, bytes(self.spec.fork_version(current)), FAR_FUTURE_EPOCH
            )
        version = bytes(self.spec.fork_version(following.fork))
        return ENRForkID(self.fork_digest, version, following.start_epoch)

    def next_digest_period(self) -> DigestPeriod | None:
        """Return the digest period after the current fork digest's, or None for the last."""
        for position, period in enumerate(self.periods):
            if period.digest == self.fork_digest:
                later = self.periods[position + 1 : position + 2]
                return later[0] if later else None
        return None

    async def subscribe(
        self,
        name: str,
        subnet_id: int | None = None,
        validator: GossipValidator | None = None,
    ) -> trio.MemoryReceiveChannel:
        """Subscribe to a gossip topic at the current fork digest; return its message queue.

        With a `validator`, only ACCEPTed messages reach the queue and are relayed,
        and a REJECT lowers the sender's score.
        """
        topic = self.topic(name, subnet_id)
        if validator is not None:
            self.pubsub.use_validator(topic, validator, self._on_gossip_reject)
        return await self.pubsub.subscribe_topic(topic)

    async def subscribe_topic(
        self, topic: str, validator: GossipValidator | None = None
    ) -> trio.MemoryReceiveChannel:
        """Subscribe to a full topic string of any fork digest, with `subscribe`'s validation."""
        if validator is not None:
            self.pubsub.use_validator(topic, validator, self._on_gossip_reject)
        return await self.pubsub.subscribe_topic(topic)

    async def unsubscribe_topic(self, topic: str) -> None:
        """Leave a topic and close its message queue."""
        await self.pubsub.unsubscribe_topic(topic)

    def _on_gossip_reject(self, peer_id: str, reason: str) -> None:
        self.host.penalize(peer_id, GOSSIP_REJECT_PENALTY, f"gossip REJECT: {reason}")

    async def publish(self, name: str, ssz: bytes, subnet_id: int | None = None) -> None:
        """Publish SSZ bytes on a gossip topic at the current fork digest (snappy-compressed)."""
        await self.pubsub.publish(self.topic(name, subnet_id), compress_payload(ssz))

    def topic_has_peers(self, name: str, subnet_id: int | None = None) -> bool:
        """Return whether any connected peer subscribes to the topic at the current digest."""
        return bool(self.pubsub.peer_topics.get(self.topic(name, subnet_id)))

    def refresh_record(self) -> ENR:
        """Re-sign the local ENR with the current fork id and subnets (seq + 1).

        Call it after the head crosses a fork or the subscribed subnets change;
        peers fetch the new record when PING shows them the higher seq.
        """
        record = self.discovery.record
        values = self._record_values(record.udp or 0, record.tcp or 0)
        self.discovery.update_record(**values)
        return self.discovery.record

    def _record_values(self, udp_port: int, tcp_port: int) -> dict[str, bytes | int]:
        values: dict[str, bytes | int] = {
            "ip": _ip_bytes(self._enr_ip()),
            "udp": udp_port,
            "tcp": tcp_port,
            "eth2": self.enr_fork_id().encode(),
            "attnets": encode_bitvector(self.config.attnets, ATTESTATION_SUBNET_COUNT),
            "syncnets": encode_bitvector(self.config.syncnets, SYNC_COMMITTEE_SUBNET_COUNT),
        }
        if self.config.custody_group_count is not None:
            values["cgc"] = self.config.custody_group_count
        if int(getattr(self.spec, "FULU_FORK_EPOCH", FAR_FUTURE_EPOCH)) != FAR_FUTURE_EPOCH:
            # Fulu: `nfd` is the next fork's digest (blob schedule entries included), or
            # four zero bytes when none is scheduled.
            following = self.next_digest_period()
            values["nfd"] = following.digest if following is not None else b"\x00" * 4
        return values

    async def run(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Start discovery, the host and gossipsub, then find and dial peers until cancelled."""
        async with trio.open_nursery() as nursery:
            udp_port = await nursery.start(self.discovery.run)
            listen = await nursery.start(self.host.run)
            tcp_port = int(listen.split("/tcp/")[1].split("/")[0])
            self.discovery.record = ENR.create(
                self.private_key, 1, **self._record_values(udp_port, tcp_port)
            )
            await nursery.start(self.pubsub.run_service)
            for record in parse_bootnodes(self.config.bootnodes):
                self.discovery.add_node(record)
                # A PONG with a higher seq makes discovery fetch the bootnode's current record.
                nursery.start_soon(self._ping_quietly, record)
            log.info(
                "sentinel started enr=%s peer_id=%s",
                self.discovery.record.to_text(),
                self.host.peer_id,
            )
            task_status.started(self.discovery.record)
            await self._discover_forever(nursery)

    async def _ping_quietly(self, record: ENR) -> None:
        try:
            await self.discovery.ping(record)
        except DiscoveryError as error:
            log.warning(
                "bootnode ping failed node_id=%s error=%s", record.node_id.hex()[:16], error
            )

    async def _discover_forever(self, nursery: trio.Nursery) -> None:
        while True:
            if self.host.peers.needs_peers():
                if not self.host.peers.connected:
                    # A bootnode whose first PING timed out, or whose record still shows the
                    # fork digest of its start, is never dialed: PING it again.
                    for record in parse_bootnodes(self.config.bootnodes):
                        stored = self.discovery.table.get(record.node_id)
                        if stored is None:
                            # A lookup drops a node whose FINDNODE timed out; a bootnode stays.
                            self.discovery.add_node(record)
                        nursery.start_soon(self._ping_quietly, stored or record)
                await self.discover_once(nursery)
            await trio.sleep(DISCOVERY_INTERVAL_SECONDS)

    async def discover_once(self, nursery: trio.Nursery) -> int:
        """Run one random lookup and start dialing new peers on our fork; return how many."""
        try:
            records = await self.discovery.lookup(os.urandom(32))
        except DiscoveryError as error:
            log.debug("lookup failed error=%s", error)
            return 0
        started = 0
        connected = set(self.host.peers.connected)
        for found in records:
            # The routing table may hold a newer record than the lookup returned.
            stored = self.discovery.table.get(found.node_id)
            record = stored if stored is not None and stored.seq > found.seq else found
            address = enr_multiaddr(record)
            if address is None or record.node_id in self._dialing or not self._same_fork(record):
                continue
            if address.rsplit("/", 1)[1] in connected or not self.host.peers.needs_peers():
                continue
            self._dialing.add(record.node_id)
            nursery.start_soon(self._dial, record, address)
            started += 1
        return started

    def _same_fork(self, record: ENR) -> bool:
        try:
            fork_id = record.eth2
        except ENRError:
            return False
        return fork_id is not None and fork_id.fork_digest == self.fork_digest

    async def _dial(self, record: ENR, address: str) -> None:
        try:
            with trio.fail_after(DIAL_TIMEOUT_SECONDS):
                await self.host.dial(address)
        except (OSError, ConnectionError, CodecError, ErrorResponse, trio.TooSlowError) as error:
            log.debug("dial failed addr=%s error=%s", address, error)
        except Exception as error:  # py-libp2p raises its own hierarchy on failed upgrades
            log.debug("dial failed addr=%s error=%r", address, error)
        finally:
            self._dialing.discard(record.node_id)


def _ip_bytes(address: str) -> bytes:
    import ipaddress

    return ipaddress.ip_address(address).packed
