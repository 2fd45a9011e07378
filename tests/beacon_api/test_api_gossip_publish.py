"""A block published through the Beacon API reaches a peer by gossip.

Two dev nodes on loopback run no validators of their own. The test acts as an external
validator client of the first node's `ChainReader` (the object the API routes call). It
requests a block, signs it with the proposer's interop key and publishes it. The second
node, the first's only peer, must import it from gossip.
"""

import time
from pathlib import Path

import pytest
import trio

from caplin.config.constants import DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO
from caplin.node.network import NetworkConfig
from caplin.node.node import NodeConfig, run_node
from caplin.node.reader import NodeChainReader
from caplin.node.setup import DevParameters
from caplin.transition import helpers as h
from caplin.validator.keys import interop_key
from caplin.validator.proposer import uint64_root

SLOT_MS = 2000
PARAMETERS = DevParameters(validators=64, overrides=(("SLOT_DURATION_MS", SLOT_MS),))


def node_config(datadir: Path, genesis_time: int, **options) -> NodeConfig:
    network = NetworkConfig(listen_host="127.0.0.1", udp_port=0, tcp_port=0, **options)
    return NodeConfig(
        datadir=datadir,
        dev=PARAMETERS,
        genesis_time=genesis_time,
        api_enabled=False,
        rpc_enabled=False,
        network=network,
        run_validators=False,
    )


async def wait_for(condition, timeout: float, description: str) -> None:
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.2)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


@pytest.mark.slow
def test_api_block_reaches_peer(tmp_path: Path) -> None:
    trio.run(publish_and_follow, tmp_path)


async def publish_and_follow(tmp_path: Path) -> None:
    genesis_time = int(time.time()) + 2
    async with trio.open_nursery() as nursery:
        first_stop, second_stop = trio.Event(), trio.Event()
        first = await nursery.start(
            lambda task_status: run_node(
                node_config(tmp_path / "first", genesis_time),
                shutdown=first_stop,
                task_status=task_status,
            )
        )
        config = node_config(
            tmp_path / "second", genesis_time, static_peers=[first.network.record.to_text()]
        )
        second = await nursery.start(
            lambda task_status: run_node(config, shutdown=second_stop, task_status=task_status)
        )
        await wait_for(lambda: first.network.connected_peers(), 30, "the nodes to connect")
        await wait_for(lambda: first.current_slot() >= 1, 30, "slot 1")

        reader = NodeChainReader(first)
        spec = first.spec
        slot = first.current_slot()
        _, state = await reader.head_state_at(slot)
        proposer = h.get_beacon_proposer_index(spec, state)
        key = interop_key(proposer)
        epoch = h.compute_epoch_at_slot(spec, slot)
        randao_domain = h.get_domain(spec, state, DOMAIN_RANDAO, epoch)
        reveal = key.sign(h.compute_signing_root(spec, uint64_root(epoch), randao_domain))

        proposal = await reader.produce_block(slot, reveal, b"\x00" * 32, None)
        block = proposal.block
        block_domain = h.get_domain(spec, state, DOMAIN_BEACON_PROPOSER, epoch)
        signature = key.sign(h.compute_signing_root(spec, block, block_domain))
        signed = spec.types(spec.fork_of(block)).SignedBeaconBlock(
            message=block, signature=signature
        )
        result = await reader.submit_block(signed)
        assert result.status.value == 200, result.message

        root = bytes(block.hash_tree_root())
        await wait_for(
            lambda: second.chain.snapshot.head_root == root, 20, "the peer to import the block"
        )
        # From gossip, not from a range sync of the first node's chain.
        assert second.network.gossip_blocks == 1
        first_stop.set()
        second_stop.set()
