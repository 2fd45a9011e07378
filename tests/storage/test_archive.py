"""`caplin.storage.archive`: datadir modes, restore points, the state-root index, replays."""

import time
from pathlib import Path

import pytest

from caplin.errors import StorageError
from caplin.node.setup import DevParameters, open_dev_chain
from caplin.storage.archive import (
    ARCHIVE,
    ARCHIVE_TABLES,
    PRUNED,
    StateHistory,
    open_history,
)
from caplin.transition.slot import process_slots
from caplin.validator.client import ValidatorClient

SLOT_SECONDS = 6
# Epoch 2 (block slot 16) is finalized by the blocks of slot 32 at the latest.
SLOTS = 34
EMPTY_SLOTS = {5, 6, 7, 13}


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def run_chain(datadir: Path, archive: bool, slots: int, engine: str = "lmdb", empty=()):
    """Drive a dev chain through `slots` slots, leaving `empty` slots without a block.

    Returns the open chain and {slot: state root} recorded at every slot.
    """
    genesis_time = int(time.time()) - SLOT_SECONDS * (slots + 1)
    dev = open_dev_chain(
        datadir, DevParameters(), db_engine=engine, genesis_time=genesis_time, archive=archive
    )
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    roots = {0: bytes(dev.chain.snapshot.head_state.hash_tree_root())}
    for slot in range(1, slots + 1):
        if slot not in empty:
            client.propose(slot)
            dev.chain.update_head()
        client.attest(slot)
        client.aggregate(slot)
        dev.chain.update_head()
        client.prepare(slot + 1)
        state = dev.chain.snapshot.head_state
        if int(state.slot) < slot:
            state = process_slots(dev.spec, state.copy(), slot)
        roots[slot] = bytes(state.hash_tree_root())
    dev.chain.flush()
    return dev, roots


def reset_archive(db) -> None:
    """Delete every archive entry but the mode and the genesis restore point."""
    with db.kv.write() as txn:
        for table in ARCHIVE_TABLES[1:]:
            for key, _ in list(txn.items(table)):
                if table == "archive_snapshots" and key == _u64(0):
                    continue
                txn.delete(table, key)
        txn.put("archive_meta", b"archived_slot", _u64(0))


@pytest.fixture(scope="module")
def archive_chain(tmp_path_factory):
    dev, roots = run_chain(tmp_path_factory.mktemp("chain"), True, SLOTS, empty=EMPTY_SLOTS)
    yield dev, roots
    dev.close()


def test_node_archives_every_finalized_slot(archive_chain):
    dev, roots = archive_chain
    history = dev.chain.history
    finalized = history.finalized_slot()
    assert finalized >= 16
    assert history.archived_slot() == finalized
    for slot in range(finalized + 1):
        assert history.slot_of_state_root(roots[slot]) == slot, f"slot {slot}"


def test_replay_with_short_interval(archive_chain):
    """Archive from stored blocks alone (a restart's catch-up) with a restore point every 4."""
    dev, roots = archive_chain
    reset_archive(dev.db)
    history = StateHistory(dev.db, ARCHIVE, restore_point_interval=4)
    history.update()
    finalized = history.finalized_slot()
    assert history.archived_slot() == finalized

    with dev.db.kv.read() as txn:
        points = [int.from_bytes(key, "big") for key, _ in txn.items("archive_snapshots")]
    # At most one restore point per 4-slot window, at the first block in it.
    assert points[0] == 0
    assert len(points) >= finalized // 4 - 1
    windows = [point // 4 for point in points]
    assert windows == sorted(set(windows))

    for slot in range(finalized + 1):
        assert history.slot_of_state_root(roots[slot]) == slot, f"index of slot {slot}"
        history._cache.clear()
        state = history.state_at_slot(slot)
        assert int(state.slot) == slot
        assert bytes(state.hash_tree_root()) == roots[slot], f"state of slot {slot}"


def test_cached_states_are_copies(archive_chain):
    dev, roots = archive_chain
    history = dev.chain.history
    first = history.state_at_slot(9)
    first.slot = 12345
    again = history.state_at_slot(9)
    assert int(again.slot) == 9
    assert bytes(again.hash_tree_root()) == roots[9]


def test_later_slots_not_archived(archive_chain):
    dev, roots = archive_chain
    history = dev.chain.history
    assert history.state_at_slot(history.finalized_slot() + 1) is None
    assert history.slot_of_state_root(roots[SLOTS]) is None
    assert history.state_by_root(b"\x11" * 32) is None


def test_corrupt_restore_point_raises(archive_chain):
    dev, _ = archive_chain
    history = StateHistory(dev.db, ARCHIVE)
    with dev.db.kv.read() as txn:
        stored = txn.get("archive_snapshots", _u64(0))
    try:
        with dev.db.kv.write() as txn:
            txn.put("archive_snapshots", _u64(0), stored[:1] + b"not zstd")
        with pytest.raises(StorageError, match="cannot be decoded"):
            history.state_at_slot(2)
    finally:
        with dev.db.kv.write() as txn:
            txn.put("archive_snapshots", _u64(0), stored)


def test_invalid_interval_rejected(archive_chain):
    dev, _ = archive_chain
    with pytest.raises(StorageError, match="at least one slot"):
        StateHistory(dev.db, ARCHIVE, restore_point_interval=0)


@pytest.fixture(scope="module")
def pruned_chain(tmp_path_factory):
    dev, _ = run_chain(tmp_path_factory.mktemp("pruned"), False, SLOTS)
    yield dev
    dev.close()


def test_pruned_mode_keeps_genesis_and_anchor(pruned_chain):
    dev = pruned_chain
    history = dev.chain.history
    assert history.mode == PRUNED
    assert history.state_at_slot(3) is None
    finalized = history.finalized_slot()
    with dev.db.kv.read() as txn:
        kept = [root for root, _ in txn.items("states")]
        assert list(txn.items("archive_snapshots")) == []
    slots = sorted(int(dev.db.block(root).message.slot) for root in kept)
    assert slots[0] == 0
    assert finalized in slots
    assert all(slot == 0 or slot >= finalized for slot in slots), slots


def test_unrecorded_mode_after_finality_is_pruned(pruned_chain):
    """A datadir written before modes existed, with finalized history, counts as pruned."""
    dev = pruned_chain
    with dev.db.kv.write() as txn:
        txn.delete("archive_meta", b"mode")
    with pytest.raises(StorageError, match="not an archive") as raised:
        open_history(dev.db, archive=True)
    assert raised.value.fields["oldest_state_slot"] == dev.chain.history.finalized_slot()
    with dev.db.kv.read() as txn:
        assert txn.get("archive_meta", b"mode") == b"pruned"


def test_mode_recorded_on_first_open(tmp_path):
    dev, _ = run_chain(tmp_path, True, 2)
    try:
        with dev.db.kv.read() as txn:
            assert txn.get("archive_meta", b"mode") == b"archive"
        # The same datadir opened again in the same mode is accepted.
        assert open_history(dev.db, archive=True).archive
        with pytest.raises(StorageError, match="is an archive"):
            open_history(dev.db, archive=False)
    finally:
        dev.close()


def test_empty_run_longer_than_state_roots(tmp_path):
    """Index the empty slots before a block more than SLOTS_PER_HISTORICAL_ROOT slots after
    its parent, which `state_roots` of the block's state no longer lists."""
    dev = open_dev_chain(
        tmp_path,
        DevParameters(),
        genesis_time=int(time.time()) - SLOT_SECONDS * 80,
        archive=True,
    )
    try:
        length = dev.spec.SLOTS_PER_HISTORICAL_ROOT
        block_slot = length + 6
        genesis = dev.chain.snapshot.head_state
        expected = {bytes(genesis.hash_tree_root()): 0}
        state = genesis.copy()
        for slot in range(1, block_slot):
            state = process_slots(dev.spec, state, slot)
            expected[bytes(state.hash_tree_root())] = slot

        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        signed_block = client.propose(block_slot)
        assert signed_block is not None
        root = bytes(signed_block.message.hash_tree_root())
        expected[bytes(signed_block.message.state_root)] = block_slot

        history = dev.chain.history
        roots, post_state = history._advance_to_block(genesis, block_slot, root, lambda r: None)
        assert int(post_state.slot) == block_slot
        assert len(roots) == block_slot + 1
        assert roots == expected
    finally:
        dev.close()


def test_archive_on_leveldb(tmp_path):
    dev, roots = run_chain(tmp_path, True, SLOTS, engine="leveldb", empty={3})
    try:
        history = dev.chain.history
        finalized = history.finalized_slot()
        assert finalized >= 16
        for slot in (0, 3, 9, finalized):
            history._cache.clear()
            state = history.state_by_root(roots[slot])
            assert state is not None, f"slot {slot}"
            assert bytes(state.hash_tree_root()) == roots[slot]
    finally:
        dev.close()


def test_replay_across_fork_upgrade(tmp_path):
    """Restore points of two forks, and replays through the electra upgrade at epoch 2."""
    genesis_time = int(time.time()) - SLOT_SECONDS * (SLOTS + 1)
    parameters = DevParameters(genesis_fork="deneb", overrides=(("ELECTRA_FORK_EPOCH", 2),))
    dev = open_dev_chain(tmp_path, parameters, genesis_time=genesis_time, archive=True)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        roots = {0: bytes(dev.chain.snapshot.head_state.hash_tree_root())}
        for slot in range(1, SLOTS + 1):
            client.propose(slot)
            dev.chain.update_head()
            client.attest(slot)
            client.aggregate(slot)
            dev.chain.update_head()
            client.prepare(slot + 1)
            roots[slot] = bytes(dev.chain.snapshot.head_state.hash_tree_root())
        dev.chain.flush()

        reset_archive(dev.db)
        history = StateHistory(dev.db, ARCHIVE, restore_point_interval=8)
        history.update()
        finalized = history.finalized_slot()
        assert finalized >= 16
        forks = set()
        for slot in range(finalized + 1):
            history._cache.clear()
            state = history.state_at_slot(slot)
            forks.add(dev.spec.fork_of(state).lower)
            assert bytes(state.hash_tree_root()) == roots[slot], f"state of slot {slot}"
        assert forks == {"deneb", "electra"}
    finally:
        dev.close()
