"""Blob data between two dev nodes: range sync fetches sidecars, gossip delivers them.

The first node runs every validator and includes blob transactions. The second runs none.
One blob block is made before the second node starts, so it arrives by range sync with
its sidecars by range. Another is made after, so block and sidecars arrive by gossip.
"""

import sys
import time
from pathlib import Path

import pytest
import trio

from caplin.config.forks import Fork
from caplin.node.network import NetworkConfig
from caplin.node.node import NodeConfig, run_node
from caplin.node.setup import DevParameters

sys.path.insert(0, str(Path(__file__).parents[1] / "execution"))
from test_blobs import blob_set, sign_blob  # noqa: E402

SLOT_MS = 2000


@pytest.fixture()
def blobs():
    return blob_set()


def node_config(datadir: Path, fork: str, genesis_time: int, **options) -> NodeConfig:
    parameters = DevParameters(
        validators=32, genesis_fork=fork, overrides=(("SLOT_DURATION_MS", SLOT_MS),)
    )
    network = NetworkConfig(listen_host="127.0.0.1", udp_port=0, tcp_port=0, **options)
    return NodeConfig(
        datadir=datadir,
        dev=parameters,
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


def send_blob_transaction(node, blobs, sender: int) -> None:
    network_form, _ = sign_blob(blobs, sender, 0, [0, 1], cell_proofs=True)
    engine = node.dev.engine
    state = engine.state_at(engine.head())
    node.dev.txpool.add(network_form, lambda a: (state.get_nonce(a), state.get_balance(a)))


def blob_block_roots(node) -> list[bytes]:
    """Return the roots of the head chain's blocks that carry blobs, oldest first."""
    roots = []
    chain = node.chain
    root = chain.snapshot.head_root
    while True:
        signed = chain.block(root)
        if signed is None or int(signed.message.slot) == 0:
            return roots[::-1]
        if len(signed.message.body.blob_kzg_commitments) > 0:
            roots.append(root)
        root = bytes(signed.message.parent_root)


@pytest.mark.slow
@pytest.mark.parametrize("fork", ["electra", "fulu"])
async def test_blob_blocks_reach_second_node(tmp_path, blobs, fork):
    genesis_time = int(time.time()) + 2
    async with trio.open_nursery() as nursery:
        first_stop, second_stop = trio.Event(), trio.Event()
        first = await nursery.start(
            lambda task_status: run_node(
                node_config(tmp_path / "first", fork, genesis_time),
                shutdown=first_stop,
                task_status=task_status,
            )
        )
        await wait_for(lambda: first.chain.snapshot.head_slot >= 2, 60, "two blocks")
        send_blob_transaction(first, blobs, sender=3)
        await wait_for(lambda: len(blob_block_roots(first)) == 1, 30, "the first blob block")

        config = node_config(
            tmp_path / "second",
            fork,
            genesis_time,
            static_peers=[first.network.record.to_text()],
        )
        config.run_validators = False
        second = await nursery.start(
            lambda task_status: run_node(config, shutdown=second_stop, task_status=task_status)
        )

        def same_head() -> bool:
            return second.chain.snapshot.head_root == first.chain.snapshot.head_root

        await wait_for(same_head, 90, "the second node to sync the first's head")
        (synced_root,) = blob_block_roots(first)
        assert synced_root in second.chain.store.blocks

        send_blob_transaction(first, blobs, sender=4)
        await wait_for(lambda: len(blob_block_roots(first)) == 2, 30, "the second blob block")
        gossip_root = blob_block_roots(first)[1]
        await wait_for(
            lambda: gossip_root in second.chain.store.blocks, 30, "the gossip blob block"
        )
        await wait_for(same_head, 30, "the second node to follow the first's head")

        for root in (synced_root, gossip_root):
            # A block is in fork choice a moment before its write with the sidecars lands.
            await wait_for(lambda r=root: second.chain.sidecars(r), 10, "the stored sidecars")
            stored = second.chain.sidecars(root)
            if Fork.from_name(fork) >= Fork.FULU:
                custody = second.chain.availability.custody_columns
                assert custody, "a fulu node on a network custodies a set of columns"
                assert [int(s.index) for s in stored] == sorted(custody)
            else:
                assert [int(s.index) for s in stored] == [0, 1]
                assert [bytes(s.blob) for s in stored] == [blobs[0][0], blobs[1][0]]

        second_stop.set()
        first_stop.set()
