"""`NodeChainReader`, the node as the Beacon API reads it, on a driven dev chain."""

import pytest

from beacon_api.chain import StateId
from caplin.node.node import Node, NodeConfig
from caplin.node.reader import NodeChainReader
from caplin.validator.client import ValidatorClient
from tests.node.devnet import drive, open_past_chain

SLOTS = 20


@pytest.fixture(scope="module")
def reader(tmp_path_factory):
    datadir = tmp_path_factory.mktemp("reader")
    dev = open_past_chain(datadir, "electra", SLOTS + 4)
    node = Node(NodeConfig(datadir=datadir), dev)
    chain_reader = NodeChainReader(node)
    drive(dev, node.validators, 1, SLOTS)
    # Leave slot SLOTS + 1 empty, then propose at SLOTS + 2.
    client: ValidatorClient = node.validators
    drive(dev, client, SLOTS + 2, SLOTS + 2)
    yield chain_reader
    dev.close()


def test_head_and_checkpoints(reader):
    root, slot = reader.head()
    assert slot == SLOTS + 2
    assert reader.block_by_root(root).message.slot == slot
    assert reader.finalized_checkpoint().epoch == 0
    assert reader.justified_checkpoint().epoch >= 1


def test_canonical_roots(reader):
    root, slot = reader.head()
    assert reader.canonical_block_root(slot) == root
    assert reader.canonical_block_root(SLOTS + 1) is None
    assert reader.canonical_block_root(slot + 1) is None
    parent = bytes(reader.block_by_root(root).message.parent_root)
    assert reader.canonical_block_root(SLOTS) == parent
    assert reader.child_block_roots(parent) == [root]


def test_state_at_slot_and_genesis(tmp_path, reader):
    import trio

    async def read(state_id):
        return await reader.state(state_id)

    at_slot = trio.run(read, StateId("slot", 5))
    assert int(at_slot.slot) == 5
    assert bytes(at_slot.hash_tree_root()) == bytes(
        reader.block_by_root(reader.canonical_block_root(5)).message.state_root
    )
    empty = trio.run(read, StateId("slot", SLOTS + 1))
    assert int(empty.slot) == SLOTS + 1
    genesis = trio.run(read, StateId("genesis"))
    assert int(genesis.slot) == 0
    by_root = trio.run(read, StateId("root", bytes(at_slot.hash_tree_root())))
    assert by_root is not None
    assert trio.run(read, StateId("slot", SLOTS + 10)) is None


def test_fork_choice_nodes_and_sync(reader):
    nodes = reader.fork_choice_nodes()
    head_root, head_slot = reader.head()
    assert head_root in {node.block_root for node in nodes}
    assert all(node.validity == "valid" for node in nodes)
    status = reader.sync_status()
    assert status.head_slot == head_slot
    assert status.is_syncing is False


def test_pool_attestations(reader):
    attestations = reader.pool_attestations()
    assert attestations
    assert all(len(list(a.committee_bits)) > 0 for a in attestations)
