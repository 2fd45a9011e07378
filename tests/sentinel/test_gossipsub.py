import coincurve
import trio

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from sentinel.gossip import GossipTopic, compute_message_id
from sentinel.gossip.topics import compress_payload
from sentinel.gossipsub import EthereumPubsub
from sentinel.host import HostConfig, SentinelHost
from sentinel.memory_chain import MemoryChain
from sentinel.reqresp.protocols import ForkContext

SPEC = ChainSpec.for_preset("minimal")
FORKS = ForkContext(SPEC, bytes(range(32)))
DIGEST = FORKS.digest_of_fork(Fork.PHASE0)
TOPIC = str(GossipTopic(DIGEST, "voluntary_exit"))


def make_host() -> SentinelHost:
    status = SPEC.types(Fork.PHASE0).Status(fork_digest=DIGEST)
    chain = MemoryChain(status, SPEC.types(Fork.ALTAIR).MetaData())
    return SentinelHost(SPEC, coincurve.PrivateKey().secret, FORKS, chain, HostConfig())


async def receive_one(queue: trio.MemoryReceiveChannel, timeout: float = 15):
    with trio.fail_after(timeout):
        return await queue.receive()


async def test_publish_unsigned_and_deliver():
    async with trio.open_nursery() as nursery:
        a, b = make_host(), make_host()
        address = await nursery.start(a.run)
        await nursery.start(b.run)
        pubsub_a = EthereumPubsub(a.libp2p, SPEC, FORKS)
        pubsub_b = EthereumPubsub(b.libp2p, SPEC, FORKS)
        await nursery.start(pubsub_a.run_service)
        await nursery.start(pubsub_b.run_service)
        await pubsub_a.subscribe_topic(TOPIC)
        queue = await pubsub_b.subscribe_topic(TOPIC)
        with trio.fail_after(30):
            await b.dial(address)
            # Wait until a has received b's subscription, so the publish has a peer to go to.
            while not pubsub_a.peer_topics.get(TOPIC):
                await trio.sleep(0.05)
        exit_message = SPEC.types(Fork.PHASE0).SignedVoluntaryExit()
        data = compress_payload(exit_message.encode_bytes())
        await pubsub_a.publish(TOPIC, data)

        message = await receive_one(queue)
        assert message.data == data
        # A second message with other content must be published too (no equivocation).
        second = compress_payload(b"\x01" * len(exit_message.encode_bytes()))
        await pubsub_a.publish(TOPIC, second)
        assert (await receive_one(queue)).data == second
        assert message.from_id == b""
        assert message.seqno == b""
        assert message.signature == b""
        expected_id = compute_message_id(SPEC, TOPIC, data, Fork.PHASE0)
        assert pubsub_b.message_id(message) == expected_id
        nursery.cancel_scope.cancel()


async def test_full_queue_counts_drops():
    async with trio.open_nursery() as nursery:
        a = make_host()
        await nursery.start(a.run)
        pubsub = EthereumPubsub(a.libp2p, SPEC, FORKS, queue_size=1)
        await nursery.start(pubsub.run_service)
        await pubsub.subscribe_topic(TOPIC)
        for index in range(3):
            await pubsub.publish(TOPIC, compress_payload(bytes([index]) * 8))
        assert pubsub.dropped == 2
        nursery.cancel_scope.cancel()


async def test_signed_message_dropped():
    from libp2p.pubsub.pb import rpc_pb2

    async with trio.open_nursery() as nursery:
        a = make_host()
        await nursery.start(a.run)
        pubsub = EthereumPubsub(a.libp2p, SPEC, FORKS)
        await nursery.start(pubsub.run_service)
        queue = await pubsub.subscribe_topic(TOPIC)
        signed = rpc_pb2.Message(
            data=compress_payload(b"x" * 8), topicIDs=[TOPIC], from_id=b"peer", seqno=b"\x01"
        )
        await pubsub.push_msg(a.libp2p.get_id(), signed)
        assert pubsub.rejected_signed == 1
        with trio.move_on_after(0.2):
            await queue.receive()
            raise AssertionError("a signed message was delivered")
        nursery.cancel_scope.cancel()
