"""Gossipsub 1.1 adapted to Ethereum on top of py-libp2p's Pubsub and GossipSub.

What differs from py-libp2p's defaults, and why:
- StrictNoSign: published messages carry no `from`, `seqno`, `signature` or
  `key`, and received messages with any of them are dropped, as the consensus
  p2p spec requires.
- Message ids come from `sentinel.gossip.compute_message_id` (sha256 over the
  snappy domain, the topic from Altair, and the decompressed payload).
- Sizes: an RPC may carry a full-size payload (MAX_PAYLOAD_SIZE compressed,
  plus framing), not py-libp2p's 1 MiB default.
- No per-topic rate cap (py-libp2p's spam protection allows 10 messages/s per
  topic, far below attestation traffic) and no IP-diversity rule (loopback
  and NAT setups would fail it).
- Equivocation detection by `from || seqno` is skipped for unsigned messages.
- Delivery goes to bounded per-topic queues; a full queue drops the message
  with a counted, rate-limited warning instead of py-libp2p's silent loss.

Mesh parameters are the p2p spec's: D=8, D_low=6, D_high=12, D_lazy=6,
heartbeat 0.7 s, fanout TTL 60 s, mcache length 6, gossip over 3, seen TTL
550 heartbeats.
"""

import logging
import time
from collections.abc import Callable
from typing import Any

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from sentinel.gossip import GossipValidator, compute_message_id, parse_topic
from sentinel.gossip.result import Verdict
from sentinel.gossip.topics import max_compressed_length
from sentinel.reqresp.protocols import ForkContext

log = logging.getLogger("sentinel.gossipsub")

MESHSUB_PROTOCOLS = ["/meshsub/1.1.0", "/meshsub/1.0.0"]
MESH_DEGREE = 8
MESH_DEGREE_LOW = 6
MESH_DEGREE_HIGH = 12
HEARTBEAT_SECONDS = 0.7
FANOUT_TTL_SECONDS = 60
MCACHE_LENGTH = 6
MCACHE_GOSSIP = 3
SEEN_TTL_SECONDS = int(550 * HEARTBEAT_SECONDS)
DEFAULT_QUEUE_SIZE = 4096
# Protobuf framing around one message: topic string, field tags and control entries.
RPC_OVERHEAD = 16 * 1024


class EthereumGossipSub(GossipSub):
    """GossipSub whose equivocation check skips unsigned (StrictNoSign) messages.

    py-libp2p 0.8 flags two messages with the same `from || seqno` and different
    data as equivocation and stops forwarding the second. Unsigned messages all
    share the empty key, so without this every message after the first would be
    neither relayed nor published.
    """

    def _check_equivocation(self, msg: rpc_pb2.Message) -> bool:
        if not msg.from_id and not msg.seqno:
            return True
        return super()._check_equivocation(msg)


def ethereum_gossipsub() -> GossipSub:
    """Return a GossipSub router with the consensus p2p spec's parameters."""
    return EthereumGossipSub(
        protocols=MESHSUB_PROTOCOLS,
        degree=MESH_DEGREE,
        degree_low=MESH_DEGREE_LOW,
        degree_high=MESH_DEGREE_HIGH,
        time_to_live=FANOUT_TTL_SECONDS,
        gossip_window=MCACHE_GOSSIP,
        gossip_history=MCACHE_LENGTH,
        heartbeat_interval=HEARTBEAT_SECONDS,  # type: ignore[arg-type]
        spam_protection_enabled=False,
        eclipse_protection_enabled=False,
    )


class EthereumPubsub(Pubsub):
    """Pubsub with StrictNoSign, Ethereum message ids, size limits and bounded queues."""

    def __init__(
        self,
        host: Any,
        spec: Any,
        forks: ForkContext,
        router: GossipSub | None = None,
        queue_size: int = DEFAULT_QUEUE_SIZE,
    ) -> None:
        self.spec = spec
        self.forks = forks
        self.queue_size = queue_size
        self.queues: dict[str, tuple[trio.MemorySendChannel, trio.MemoryReceiveChannel]] = {}
        self.dropped = 0
        self.rejected_signed = 0
        self._last_drop_log = 0.0
        max_rpc = max_compressed_length(int(spec.MAX_PAYLOAD_SIZE)) + RPC_OVERHEAD
        super().__init__(
            host,
            router or ethereum_gossipsub(),
            strict_signing=False,
            msg_id_constructor=self.message_id,
            seen_ttl=SEEN_TTL_SECONDS,
            max_inbound_rpc_size=max_rpc,
        )

    def message_id(self, message: rpc_pb2.Message) -> bytes:
        """Return the Ethereum message id of a received or published message."""
        topic = message.topicIDs[0] if message.topicIDs else ""
        try:
            fork = self.forks.fork_of_digest(parse_topic(topic).fork_digest)
        except ValueError:
            fork = min(self.forks.forks.values())
        return compute_message_id(self.spec, topic, bytes(message.data), fork)

    async def publish(self, topic_id: str | list[str], data: bytes) -> None:
        """Publish snappy-compressed `data` without author, seqno or signature."""
        topics = [topic_id] if isinstance(topic_id, str) else list(topic_id)
        await self.push_msg(self.my_id, rpc_pb2.Message(data=data, topicIDs=topics))

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """Drop messages that break StrictNoSign, then run py-libp2p's pipeline."""
        if msg.from_id or msg.seqno or msg.signature or msg.key:
            self.rejected_signed += 1
            log.debug("dropped signed gossip message peer=%s", msg_forwarder)
            return
        await super().push_msg(msg_forwarder, msg)

    async def subscribe_topic(self, topic: str) -> trio.MemoryReceiveChannel:
        """Subscribe to `topic` and return the queue of its validated messages."""
        if topic not in self.queues:
            self.queues[topic] = trio.open_memory_channel(self.queue_size)
        await self.subscribe(topic)
        return self.queues[topic][1]

    async def unsubscribe_topic(self, topic: str) -> None:
        """Leave `topic`, drop its validator and close its queue, so its reader's loop ends."""
        await self.unsubscribe(topic)
        self.remove_topic_validator(topic)
        queue = self.queues.pop(topic, None)
        if queue is not None:
            queue[0].close()

    def notify_subscriptions(self, publish_message: rpc_pb2.Message) -> None:
        """Queue a validated message for each subscribed topic it was sent on."""
        for topic in publish_message.topicIDs:
            queue = self.queues.get(topic)
            if queue is None:
                continue
            try:
                queue[0].send_nowait(publish_message)
            except trio.WouldBlock:
                self.dropped += 1
                now = time.monotonic()
                if now - self._last_drop_log > 10:
                    self._last_drop_log = now
                    log.warning(
                        "gossip queue full, message dropped topic=%s dropped_total=%d",
                        topic,
                        self.dropped,
                    )

    def use_validator(
        self,
        topic: str,
        validator: GossipValidator,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        """Validate `topic` with a `GossipValidator`; a REJECT calls `on_reject(peer_id, reason)`.

        NOTE: py-libp2p validators return a bool, so IGNORE and REJECT both drop
        the message without gossipsub's own penalty. `on_reject` is where a
        REJECT lowers the peer's score.
        """

        async def validate(peer_id: ID, message: rpc_pb2.Message) -> bool:
            now_ms = int(time.time() * 1000)
            result = validator.validate_message(topic, bytes(message.data), now_ms)
            if result.verdict is Verdict.REJECT and on_reject is not None:
                on_reject(peer_id.to_base58(), result.reason)
            return result.accepted

        self.set_topic_validator(topic, validate, True)

    async def run_service(self, task_status: trio.TaskStatus = trio.TASK_STATUS_IGNORED) -> None:
        """Run the pubsub and router services until cancelled."""
        async with background_trio_service(self):
            await self.wait_until_ready()
            task_status.started()
            await trio.sleep_forever()
