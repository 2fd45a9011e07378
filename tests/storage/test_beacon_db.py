import pytest

from caplin.config.forks import Fork
from caplin.errors import StorageError
from caplin.node.devchain import build_genesis_state, dev_chain_spec, genesis_block
from caplin.storage import beacon_db
from caplin.storage.beacon_db import BeaconDB, BlockWrite
from caplin.validator.keys import interop_keys

ENGINES = ["lmdb", "leveldb"]


@pytest.fixture(scope="module")
def genesis():
    spec = dev_chain_spec("minimal", Fork.ELECTRA, b"\x01" * 32)
    state = build_genesis_state(spec, [k.pubkey for k in interop_keys(16)], 1000, b"\x02" * 32)
    types = spec.types(Fork.ELECTRA)
    signed = types.SignedBeaconBlock(message=genesis_block(spec, state))
    return spec, state, signed


def open_db(path, engine, spec):
    db = BeaconDB.open(path, engine)
    db.spec = spec
    return db


def child_block(spec, parent_root, slot):
    types = spec.types(Fork.ELECTRA)
    return types.SignedBeaconBlock(message=types.BeaconBlock(slot=slot, parent_root=parent_root))


@pytest.mark.parametrize("engine", ENGINES)
def test_genesis_round_trip(tmp_path, engine, genesis):
    spec, state, signed = genesis
    root = bytes(signed.message.hash_tree_root())
    db = open_db(tmp_path, engine, spec)
    db.initialize({"validators": 16}, signed, state)
    db.close()

    db = open_db(tmp_path, engine, spec)
    assert db.chain_parameters() == {"validators": 16}
    assert db.head_root() == root
    assert db.anchor_root() == root
    assert db.finalized() == (0, root)
    assert db.canonical_root(0) == root
    assert db.block(root).message.hash_tree_root() == signed.message.hash_tree_root()
    assert db.state(root).hash_tree_root() == state.hash_tree_root()
    db.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_apply_writes_and_prunes(tmp_path, engine, genesis):
    spec, state, signed = genesis
    genesis_root = bytes(signed.message.hash_tree_root())
    db = open_db(tmp_path, engine, spec)
    db.initialize({}, signed, state)
    first = child_block(spec, genesis_root, 1)
    first_root = bytes(first.message.hash_tree_root())
    orphan = child_block(spec, genesis_root, 2)
    orphan_root = bytes(orphan.message.hash_tree_root())
    db.apply(BlockWrite(first_root, first, first_root, (0, genesis_root), (0, genesis_root)))
    db.apply(BlockWrite(orphan_root, orphan, first_root, (0, genesis_root), (0, genesis_root)))
    assert [root for _, root in db.block_slots(1)] == [first_root, orphan_root]

    db.apply(
        BlockWrite(
            first_root,
            first,
            first_root,
            (1, first_root),
            (1, first_root),
            anchor_root=first_root,
            finalized_state=state,
            canonical={1: first_root},
            prune=[(2, orphan_root)],
            pruned_slot=1,
        )
    )
    assert db.block(orphan_root) is None
    assert db.block_roots_at_slot(2) == []
    assert db.canonical_root(1) == first_root
    assert db.anchor_root() == first_root
    assert db.finalized() == (1, first_root)
    assert db.pruned_slot() == 1
    db.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_failed_write_changes_nothing(tmp_path, engine, genesis):
    spec, state, signed = genesis
    genesis_root = bytes(signed.message.hash_tree_root())
    db = open_db(tmp_path, engine, spec)
    db.initialize({}, signed, state)
    block = child_block(spec, genesis_root, 1)
    root = bytes(block.message.hash_tree_root())
    # A finalized state of None cannot be encoded, so the write fails after the block put.
    with pytest.raises(TypeError):
        db.apply(
            BlockWrite(root, block, root, (0, genesis_root), (0, genesis_root), anchor_root=root)
        )
    assert db.block(root) is None
    assert db.head_root() == genesis_root
    db.close()


def test_other_chain_is_rejected(tmp_path, genesis):
    spec, state, signed = genesis
    db = open_db(tmp_path, "lmdb", spec)
    db.initialize({}, signed, state)
    with pytest.raises(StorageError) as raised:
        db.check_genesis(b"\x09" * 32)
    assert raised.value.fields["stored_genesis_validators_root"] == (
        "0x" + bytes(state.genesis_validators_root).hex()
    )
    assert raised.value.fields["expected_genesis_validators_root"] == "0x" + "09" * 32
    db.close()


def test_newer_schema_is_rejected(tmp_path, genesis, monkeypatch):
    spec, state, signed = genesis
    monkeypatch.setattr(beacon_db, "SCHEMA_VERSION", 7)
    db = open_db(tmp_path, "lmdb", spec)
    db.initialize({}, signed, state)
    db.close()
    monkeypatch.setattr(beacon_db, "SCHEMA_VERSION", 1)
    db = open_db(tmp_path, "lmdb", spec)
    with pytest.raises(StorageError) as raised:
        db.check_schema()
    assert raised.value.fields == {"stored_schema_version": 7, "supported_schema_version": 1}
    db.close()
