"""A hostile peer against a serving host: each fault costs score, then Goodbye, then a ban.

The default run drives a `SentinelHost` in this process. The slow test starts two
caplin node processes (a block producer and an honest follower) and aims every
fault at the producer while both keep the same head.
"""

import time

import coincurve
import multiaddr
import pytest
import trio
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from sentinel.host import HostConfig, SentinelHost
from sentinel.memory_chain import MemoryChain
from sentinel.peers import DISCONNECT_THRESHOLD, Penalty
from sentinel.reqresp import protocols as p
from sentinel.reqresp.codec import (
    CodecError,
    ErrorResponse,
    ResponseCode,
    encode_payload,
    encode_varint,
)
from sentinel.reqresp.protocols import ForkContext, GoodbyeReason

SPEC = ChainSpec.for_preset("minimal")
GENESIS_ROOT = bytes(range(32))
FORKS = ForkContext(SPEC, GENESIS_ROOT)
STREAM_FAILED = -1


def make_chain(blocks: int = 0, digest: bytes | None = None) -> MemoryChain:
    types = SPEC.types(Fork.PHASE0)
    status = types.Status(fork_digest=digest or FORKS.digest_of_fork(Fork.PHASE0), head_slot=blocks)
    chain = MemoryChain(status, SPEC.types(Fork.ALTAIR).MetaData(seq_number=1))
    for slot in range(1, blocks + 1):
        block = types.SignedBeaconBlock()
        block.message.slot = slot
        chain.add_block(block)
    return chain


def make_host(chain: MemoryChain) -> SentinelHost:
    return SentinelHost(SPEC, coincurve.PrivateKey().secret, FORKS, chain, HostConfig())


async def raw_exchange(host: SentinelHost, peer_id: str, protocol_id: str, data: bytes) -> int:
    """Send raw request bytes on a new stream; return the first response byte.

    Returns STREAM_FAILED when the stream is reset or closed without a response.
    """
    try:
        with trio.fail_after(15):
            stream = await host.libp2p.new_stream(ID.from_base58(peer_id), [protocol_id])
            await stream.write(data)
            await stream.close_write()
            first = await stream.read(1)
            await stream.close()
    except trio.TooSlowError:
        raise
    except Exception:  # py-libp2p raises StreamReset, StreamEOF and muxer errors here
        return STREAM_FAILED
    return first[0] if first else STREAM_FAILED


async def wait_for(condition, timeout: float, description: str) -> float:
    """Wait until `condition()` holds; return the seconds it took."""
    start = time.monotonic()
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.05)
        return time.monotonic() - start
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


def blocks_request(start_slot: int, count: int, step: int = 1) -> bytes:
    request_type = p.BLOCKS_BY_RANGE.request_type(SPEC, Fork.PHASE0)
    return encode_payload(
        request_type(start_slot=start_slot, count=count, step=step).encode_bytes()
    )


async def connected_pair(nursery, server_chain: MemoryChain | None = None):
    server = make_host(server_chain or make_chain(blocks=8))
    hostile = make_host(make_chain())
    address = await nursery.start(server.run)
    await nursery.start(hostile.run)
    with trio.fail_after(30):
        peer = await hostile.dial(address)
    return server, hostile, peer, address


# One fault of each kind: (description, protocol id, raw request bytes, expected penalty).
SINGLE_FAULTS = [
    ("garbage frame", p.STATUS_V1.protocol_id, b"\x54" + b"\xde\xad\xbe\xef" * 8, 10.0),
    ("bad snappy frame", p.PING.protocol_id, encode_varint(8) + b"\xff\x06\x00\x00sNaPpX", 10.0),
    (
        "oversized length prefix",
        p.BLOCKS_BY_RANGE.protocol_id,
        encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) + 1) + b"\x00" * 64,
        Penalty.OVERSIZED,
    ),
    ("count zero", p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 0), Penalty.MID_TOLERANCE),
    ("step two", p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 4, 2), Penalty.MID_TOLERANCE),
]


@pytest.mark.parametrize(
    "description,protocol_id,data,penalty", SINGLE_FAULTS, ids=[f[0] for f in SINGLE_FAULTS]
)
async def test_single_fault_penalty(description, protocol_id, data, penalty):
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        code = await raw_exchange(hostile, peer, protocol_id, data)
        assert code == ResponseCode.INVALID_REQUEST, description
        score = server.peers.score(hostile.peer_id)
        assert -penalty - 0.5 < score <= -penalty + 0.5, (description, score)
        nursery.cancel_scope.cancel()


async def test_oversized_prefix_disconnects():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        data = encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) * 4) + b"\x00" * 16
        assert await raw_exchange(hostile, peer, p.BLOCKS_BY_ROOT.protocol_id, data) == 1
        assert Penalty.OVERSIZED >= -DISCONNECT_THRESHOLD
        await wait_for(lambda: hostile.peers.peer(peer).goodbye_reason is not None, 10, "Goodbye")
        assert hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BAD_SCORE
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert not server.peers.is_banned(hostile.peer_id)
        nursery.cancel_scope.cancel()


async def test_garbage_burst_bans_and_refuses_reconnect():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, address = await connected_pair(nursery)
        garbage = b"\x08" + b"\x00" * 12
        codes: list[int] = []

        async def send_garbage(protocol_id: str) -> None:
            codes.append(await raw_exchange(hostile, peer, protocol_id, garbage))

        # Five frames at once, on five protocols so that no concurrency cap resets them,
        # land before the first Goodbye closes the connection.
        targets = (p.PING, p.STATUS_V1, p.GOODBYE, p.BLOCKS_BY_RANGE, p.BLOCKS_BY_ROOT)
        async with trio.open_nursery() as burst:
            for protocol in targets:
                burst.start_soon(send_garbage, protocol.protocol_id)
        assert codes.count(ResponseCode.INVALID_REQUEST) >= 2, codes
        await wait_for(lambda: server.peers.is_banned(hostile.peer_id), 10, "the ban")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert hostile.peers.peer(peer).goodbye_reason in (250, 251)

        # A banned peer's reconnect gets Goodbye 251 and no service.
        with pytest.raises((ConnectionError, StreamError, ErrorResponse, CodecError)):
            with trio.fail_after(20):
                await hostile.dial(address)
        await wait_for(
            lambda: hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BANNED,
            10,
            "Goodbye 251 on the reconnect",
        )
        await trio.sleep(0.5)
        assert hostile.peer_id not in server.peers.connected
        nursery.cancel_scope.cancel()


async def test_disconnected_peer_rejected_until_score_decays():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, address = await connected_pair(nursery)
        oversized = encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) + 1)
        assert await raw_exchange(hostile, peer, p.PING.protocol_id, oversized) == 1
        server.peers.report(hostile.peer_id, Penalty.LOW_TOLERANCE, "test: deeper score")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert not server.peers.is_banned(hostile.peer_id)
        assert server.peers.accept(hostile.peer_id) == GoodbyeReason.BAD_SCORE
        with pytest.raises((ConnectionError, StreamError, ErrorResponse, CodecError)):
            with trio.fail_after(20):
                await hostile.dial(address)
        await wait_for(
            lambda: hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BAD_SCORE,
            10,
            "Goodbye 250 on the reconnect",
        )
        nursery.cancel_scope.cancel()


async def test_blocks_by_range_flood_resets_and_bans():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery, make_chain(blocks=64))
        codes: list[int] = []

        async def one_request() -> None:
            code = await raw_exchange(
                hostile, peer, p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 64)
            )
            codes.append(code)

        start = time.monotonic()
        async with trio.open_nursery() as flood:
            for _ in range(60):
                flood.start_soon(one_request)
        elapsed = time.monotonic() - start
        assert codes.count(ResponseCode.SUCCESS) >= 2
        assert codes.count(STREAM_FAILED) >= 25, codes
        await wait_for(lambda: server.peers.is_banned(hostile.peer_id), 10, "the ban")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert elapsed < 30
        nursery.cancel_scope.cancel()


async def test_sequential_requests_are_withheld_not_refused():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        quota = server.limiter.quotas["ping"][0]
        value = encode_payload((5).to_bytes(8, "little"))
        start = time.monotonic()
        codes = [
            await raw_exchange(hostile, peer, p.PING.protocol_id, value)
            for _ in range(quota.amount + 1)
        ]
        assert codes == [ResponseCode.SUCCESS] * (quota.amount + 1)
        # The request past the quota waited for one token instead of getting an error.
        assert time.monotonic() - start >= 0.8 / quota.rate
        assert server.peers.score(hostile.peer_id) == 0
        nursery.cancel_scope.cancel()


async def test_status_on_other_network_gets_goodbye():
    async with trio.open_nursery() as nursery:
        server = make_host(make_chain())
        hostile = make_host(make_chain(digest=b"\xde\xad\xbe\xef"))
        address = await nursery.start(server.run)
        await nursery.start(hostile.run)
        with trio.fail_after(30):
            # The hostile peer sends a Status on another digest, ignoring the mismatch.
            info = info_from_p2p_addr(multiaddr.Multiaddr(address))
            peer = info.peer_id.to_base58()
            await hostile.libp2p.connect(info)
            await hostile.request(peer, p.STATUS_V1, hostile.chain.status())
            seconds = await wait_for(
                lambda: hostile.peers.peer(peer).goodbye_reason is not None, 10, "Goodbye"
            )
        assert hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.IRRELEVANT_NETWORK
        assert seconds < 5
        assert server.peers.score(hostile.peer_id) <= -Penalty.IRRELEVANT_NETWORK + 0.5
        nursery.cancel_scope.cancel()
