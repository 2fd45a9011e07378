"""Range sync between two networks of dev chains whose slots have already passed."""

import coincurve
import trio

from caplin.crypto.bls import G2_POINT_AT_INFINITY
from caplin.node.network import NetworkConfig, NodeNetwork
from caplin.node.node import Node, NodeConfig
from caplin.node.setup import DevParameters, open_dev_chain
from sentinel.memory_chain import MemoryChain
from sentinel.service import Sentinel, SentinelConfig
from tests.node.devnet import run_chain

SLOTS = 12


def loopback(**options) -> NetworkConfig:
    return NetworkConfig(listen_host="127.0.0.1", udp_port=0, tcp_port=0, **options)


async def test_range_sync_reaches_peer_head(tmp_path):
    first_dev = run_chain(tmp_path / "first", "electra", SLOTS)
    second_dev = open_dev_chain(
        tmp_path / "second", DevParameters(validators=64), genesis_time=first_dev.genesis_time
    )
    try:
        first = Node(NodeConfig(datadir=tmp_path / "first"), first_dev)
        second = Node(NodeConfig(datadir=tmp_path / "second", run_validators=False), second_dev)
        first.network = NodeNetwork(first, loopback())

        served = list(first.network.blocks_by_range(1, SLOTS))
        assert [int(block.message.slot) for block in served] == list(range(1, SLOTS + 1))
        status = first.network.status()
        assert int(status.head_slot) == SLOTS
        assert bytes(status.head_root) == first_dev.chain.snapshot.head_root
        assert bytes(status.finalized_root) == b"\x00" * 32

        async with trio.open_nursery() as nursery:
            record = await nursery.start(first.network.run)
            second.network = NodeNetwork(second, loopback(static_peers=[record.to_text()]))
            await nursery.start(second.network.run)
            with trio.fail_after(60):
                while second_dev.chain.snapshot.head_root != first_dev.chain.snapshot.head_root:
                    await trio.sleep(0.1)
            assert second_dev.chain.snapshot.head_slot == SLOTS
            # The round that finds no peer ahead ends syncing, after the batch has returned.
            with trio.fail_after(10):
                while second.network.sync.is_syncing:
                    await trio.sleep(0.1)
            assert second.network.sync.imported == SLOTS
            assert second.network.connected_peers() == [first.network.sentinel.host.peer_id]
            identity = first.network.identity()
            assert identity.peer_id == first.network.sentinel.host.peer_id
            assert identity.enr == record.to_text()
            assert identity.p2p_addresses[0].startswith("/ip4/127.0.0.1/tcp/")
            assert len(identity.discovery_addresses) == 1
            nursery.cancel_scope.cancel()
    finally:
        first_dev.close()
        second_dev.close()


async def test_invalid_block_lowers_peer_score(tmp_path):
    first_dev = run_chain(tmp_path / "first", "electra", 4)
    second_dev = open_dev_chain(
        tmp_path / "second", DevParameters(validators=64), genesis_time=first_dev.genesis_time
    )
    try:
        first = Node(NodeConfig(datadir=tmp_path / "first"), first_dev)
        honest = NodeNetwork(first, loopback())
        # A peer that serves the same chain with a wrong proposer signature on every block.
        hostile_chain = MemoryChain(honest.status(), honest.metadata())
        for block in honest.blocks_by_range(1, 4):
            tampered = block.copy()
            tampered.signature = G2_POINT_AT_INFINITY
            hostile_chain.add_block(tampered)
        hostile = Sentinel(
            first_dev.spec,
            coincurve.PrivateKey().secret,
            honest.genesis_validators_root,
            hostile_chain,
            SentinelConfig(udp_port=0, tcp_port=0),
        )
        second = Node(NodeConfig(datadir=tmp_path / "second", run_validators=False), second_dev)

        async with trio.open_nursery() as nursery:
            record = await nursery.start(hostile.run)
            second.network = NodeNetwork(second, loopback(static_peers=[record.to_text()]))
            await nursery.start(second.network.run)
            peers = second.network.sentinel.host.peers
            with trio.fail_after(60):
                while peers.score(hostile.host.peer_id) >= 0:
                    await trio.sleep(0.1)
            assert second.network.sync.imported == 0
            assert second_dev.chain.snapshot.head_slot == 0
            nursery.cancel_scope.cancel()
    finally:
        first_dev.close()
        second_dev.close()
