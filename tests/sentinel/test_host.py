import coincurve
import pytest
import trio

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from sentinel.host import HostConfig, SentinelHost
from sentinel.memory_chain import MemoryChain
from sentinel.reqresp import protocols as p
from sentinel.reqresp.codec import ErrorResponse, ResponseCode
from sentinel.reqresp.protocols import EncodedBlock, ForkContext

SPEC = ChainSpec.for_preset("minimal")
GENESIS_ROOT = bytes(range(32))
FORKS = ForkContext(SPEC, GENESIS_ROOT)


def make_chain(blocks: int = 0, digest: bytes | None = None) -> MemoryChain:
    types = SPEC.types(Fork.PHASE0)
    status = types.Status(fork_digest=digest or FORKS.digest_of_fork(Fork.PHASE0), head_slot=blocks)
    metadata = SPEC.types(Fork.ALTAIR).MetaData(seq_number=5)
    chain = MemoryChain(status, metadata)
    for slot in range(1, blocks + 1):
        block = types.SignedBeaconBlock()
        block.message.slot = slot
        chain.add_block(block)
    return chain


def make_host(chain: MemoryChain, muxers=("mplex", "yamux")) -> SentinelHost:
    key = coincurve.PrivateKey().secret
    return SentinelHost(SPEC, key, FORKS, chain, HostConfig(muxers=muxers))


@pytest.mark.parametrize("muxers", [("mplex",), ("yamux",)])
async def test_status_ping_metadata(muxers):
    server_chain = make_chain(blocks=3)
    async with trio.open_nursery() as nursery:
        server = make_host(server_chain, muxers)
        client = make_host(make_chain(), muxers)
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            assert peer == server.peer_id
            assert int(client.peers.peer(peer).status.head_slot) == 3
            assert await client.ping(peer) == 5
            metadata = await client.metadata(peer)
            assert int(metadata.seq_number) == 5
        nursery.cancel_scope.cancel()


async def test_blocks_by_range_and_root():
    server_chain = make_chain(blocks=10)
    async with trio.open_nursery() as nursery:
        server = make_host(server_chain)
        client = make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            blocks = await client.blocks_by_range(peer, 3, 5)
            assert [int(b.message.slot) for b in blocks] == [3, 4, 5, 6, 7]
            root = bytes(blocks[1].message.hash_tree_root())
            by_root = await client.blocks_by_root(peer, [root, bytes(32)])
            assert [int(b.message.slot) for b in by_root] == [4]
        nursery.cancel_scope.cancel()


async def test_unserved_protocol_returns_error():
    async with trio.open_nursery() as nursery:
        server = make_host(make_chain())
        client = make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            request = p.LIGHT_CLIENT_BOOTSTRAP.request_type(SPEC, Fork.ALTAIR)(bytes(32))
            with pytest.raises(ErrorResponse) as caught:
                await client.request(peer, p.LIGHT_CLIENT_BOOTSTRAP, request)
            assert caught.value.code == ResponseCode.RESOURCE_UNAVAILABLE
        nursery.cancel_scope.cancel()


async def test_wrong_fork_digest_disconnects():
    async with trio.open_nursery() as nursery:
        server = make_host(make_chain(digest=b"\x01\x02\x03\x04"))
        client = make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            with pytest.raises(ConnectionError, match="fork digest 01020304, expected"):
                await client.dial(address)
            await trio.sleep(0.2)
            assert server.peers.peer(client.peer_id).goodbye_reason == 2
        nursery.cancel_scope.cancel()


async def test_peer_limit_sends_goodbye():
    async with trio.open_nursery() as nursery:
        server = SentinelHost(
            SPEC, coincurve.PrivateKey().secret, FORKS, make_chain(), HostConfig(max_peers=1)
        )
        first, second = make_host(make_chain()), make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(first.run)
        await nursery.start(second.run)
        with trio.fail_after(30):
            await first.dial(address)
            try:
                await second.dial(address)
            except Exception:  # the server may close before the Status exchange ends
                pass
            while second.peers.peer(server.peer_id).goodbye_reason is None:
                await trio.sleep(0.05)
        assert second.peers.peer(server.peer_id).goodbye_reason == 129
        assert server.peers.connected == [first.peer_id]
        nursery.cancel_scope.cancel()


class SidecarChain(MemoryChain):
    """A chain that also serves blob sidecars and a light-client finality update."""

    def __init__(self, spec, forks):
        types = spec.types(Fork.DENEB)
        status = types.Status(fork_digest=forks.digest_at_epoch(0))
        super().__init__(status, types.MetaData(seq_number=1))
        self.types = types

    def blob_sidecars_by_range(self, start_slot, count):
        for slot in range(start_slot, start_slot + count):
            sidecar = self.types.BlobSidecar(index=slot % 2)
            sidecar.signed_block_header.message.slot = slot
            yield sidecar

    def light_client_finality_update(self):
        update = self.types.LightClientFinalityUpdate()
        update.attested_header.beacon.slot = 5
        return update


async def test_optional_protocols_served():
    spec = ChainSpec.for_dev(preset="minimal", genesis_fork=Fork.DENEB)
    forks = ForkContext(spec, GENESIS_ROOT)
    async with trio.open_nursery() as nursery:
        server = SentinelHost(spec, coincurve.PrivateKey().secret, forks, SidecarChain(spec, forks))
        client = SentinelHost(spec, coincurve.PrivateKey().secret, forks, SidecarChain(spec, forks))
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            request_type = p.BLOBS_BY_RANGE.request_type(spec, Fork.DENEB)
            sidecars = await client.request(
                peer, p.BLOBS_BY_RANGE, request_type(start_slot=2, count=3)
            )
            assert [fork for fork, _ in sidecars] == [Fork.DENEB] * 3
            slots = [int(s.signed_block_header.message.slot) for _, s in sidecars]
            assert slots == [2, 3, 4]
            ((fork, update),) = await client.request(peer, p.LIGHT_CLIENT_FINALITY_UPDATE, None)
            assert fork == Fork.DENEB
            assert int(update.attested_header.beacon.slot) == 5
        nursery.cancel_scope.cancel()


class BrokenChain(MemoryChain):
    def blocks_by_range(self, start_slot, count):
        raise RuntimeError("storage unavailable")


async def test_provider_failure_returns_server_error():
    async with trio.open_nursery() as nursery:
        server = make_host(BrokenChain(make_chain().status(), make_chain().metadata()))
        client = make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            with pytest.raises(ErrorResponse) as caught:
                await client.blocks_by_range(peer, 1, 4)
            assert caught.value.code == ResponseCode.SERVER_ERROR
            # The connection survives the failed request.
            assert await client.ping(peer) == 5
        nursery.cancel_scope.cancel()


async def test_penalties_ban_and_disconnect():
    async with trio.open_nursery() as nursery:
        server, client = make_host(make_chain()), make_host(make_chain())
        address = await nursery.start(server.run)
        await nursery.start(client.run)
        with trio.fail_after(30):
            peer = await client.dial(address)
            for _ in range(6):
                client.penalize(peer, 10.0, "invalid block")
            while server.peers.peer(client.peer_id).goodbye_reason is None:
                await trio.sleep(0.05)
        # The first Goodbye goes out at the disconnect threshold (250, bad score).
        assert server.peers.peer(client.peer_id).goodbye_reason == 250
        assert client.peers.is_banned(peer)
        assert client.peers.accept(peer) == 251
        nursery.cancel_scope.cancel()


def test_encoded_block_reads_slot_of_every_fork():
    for fork in Fork:
        block = SPEC.types(fork).SignedBeaconBlock()
        block.message.slot = 1000 + int(fork)
        encoded = EncodedBlock.from_ssz(block.encode_bytes())
        assert encoded.message.slot == 1000 + int(fork)
        assert encoded.encode_bytes() == block.encode_bytes()
    with pytest.raises(ValueError, match="not a SignedBeaconBlock"):
        EncodedBlock.from_ssz(b"\x64\x00\x00\x00" + b"\x00" * 100)
