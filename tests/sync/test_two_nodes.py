"""Two dev nodes on loopback: the second range-syncs the first's chain, then follows gossip."""

import time
from pathlib import Path

import pytest
import trio

from caplin.node.network import NetworkConfig
from caplin.node.node import NodeConfig, run_node
from caplin.node.reader import NodeChainReader
from caplin.node.setup import DevParameters

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
    )


async def wait_for(condition, timeout: float, description: str) -> None:
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.2)
        return
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


@pytest.mark.slow
async def test_second_node_syncs_and_follows(tmp_path):
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
        await wait_for(lambda: first.chain.snapshot.head_slot >= 6, 60, "six blocks on the first")

        config = node_config(
            tmp_path / "second", genesis_time, static_peers=[first.network.record.to_text()]
        )
        config.run_validators = False
        second = await nursery.start(
            lambda task_status: run_node(config, shutdown=second_stop, task_status=task_status)
        )
        assert len(second.validators) == 0

        def same_head() -> bool:
            return second.chain.snapshot.head_root == first.chain.snapshot.head_root

        await wait_for(same_head, 60, "the second node to reach the first's head")
        assert second.chain.snapshot.head_slot >= 6, second.chain.snapshot.head_slot
        assert second.network.sync.imported >= 5
        reader = NodeChainReader(second)
        assert [peer.peer_id for peer in reader.peers()] == [first.network.sentinel.host.peer_id]

        # After two more epochs, which arrive by gossip only, the heads must match again.
        synced_slot = second.chain.snapshot.head_slot
        slots_per_epoch = int(first.spec.SLOTS_PER_EPOCH)
        target = synced_slot + 2 * slots_per_epoch
        await wait_for(
            lambda: first.chain.snapshot.head_slot >= target, 2 * slots_per_epoch * 3, "two epochs"
        )
        await wait_for(same_head, 10, "the second node to follow the first's head by gossip")
        assert second.network.gossip_blocks >= slots_per_epoch
        assert second.network.gossip_aggregates > 0
        assert reader.sync_status().is_syncing is False
        assert reader.sync_status().head_slot == first.chain.snapshot.head_slot

        second_stop.set()
        first_stop.set()
