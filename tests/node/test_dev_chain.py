"""Dev chains driven slot by slot in-process: finality on every genesis fork, restarts."""

import pytest

from caplin.config.forks import Fork
from caplin.errors import StorageError
from caplin.node.setup import DevParameters, open_dev_chain
from caplin.validator.client import ValidatorClient
from tests.node.devnet import CROSSING_EPOCHS, drive, open_past_chain, run_chain

# Finality of epoch 3 needs epoch 4 processed: the block of slot 40 (8 slots per epoch).
SLOTS_TO_FINALIZE_3 = 40
# Electra runs by default in `test_finality_prunes_orphans`.
FAST_FORKS = ["phase0"]
SLOW_FORKS = ["altair", "bellatrix", "capella", "deneb", "electra", "fulu"]


def finalized_blocks_present(dev) -> None:
    """Assert that every slot up to the finalized checkpoint block has its canonical block."""
    snapshot = dev.chain.snapshot
    root = snapshot.finalized.root
    while True:
        signed = dev.db.block(root)
        assert signed is not None, f"finalized-chain block 0x{root.hex()} is missing"
        slot = int(signed.message.slot)
        assert dev.db.canonical_root(slot) == root
        if slot == 0:
            return
        root = bytes(signed.message.parent_root)


def check_finalizes(tmp_path, fork: str) -> None:
    dev = run_chain(tmp_path, fork, SLOTS_TO_FINALIZE_3)
    try:
        snapshot = dev.chain.snapshot
        assert snapshot.head_slot == SLOTS_TO_FINALIZE_3
        assert dev.spec.fork_of(snapshot.head_state) == Fork.from_name(fork)
        assert snapshot.finalized.epoch >= 3
        assert int(snapshot.head_state.finalized_checkpoint.epoch) >= 3
        finalized_blocks_present(dev)
    finally:
        dev.close()


@pytest.mark.parametrize("fork", FAST_FORKS)
def test_genesis_fork_finalizes(tmp_path, fork):
    check_finalizes(tmp_path, fork)


@pytest.mark.slow
@pytest.mark.parametrize("fork", SLOW_FORKS)
def test_genesis_fork_finalizes_slow(tmp_path, fork):
    check_finalizes(tmp_path, fork)


@pytest.mark.slow
def test_chain_crossing_every_fork_finalizes(tmp_path):
    slots = 72
    dev = run_chain(tmp_path, "phase0", slots, overrides=CROSSING_EPOCHS)
    try:
        snapshot = dev.chain.snapshot
        assert dev.spec.fork_of(snapshot.head_state) == Fork.FULU
        assert snapshot.finalized.epoch >= 7
        payload_hash = bytes(snapshot.head_state.latest_execution_payload_header.block_hash)
        assert dev.engine.head().hash == payload_hash
        finalized_blocks_present(dev)
    finally:
        dev.close()


def test_finality_prunes_orphans(tmp_path):
    slots = 56
    dev = open_past_chain(tmp_path, "electra", slots)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 1, 11)
        orphan_root = import_orphan(dev, client, parent_slot=9, slot=11)
        assert dev.db.block(orphan_root) is not None
        assert dev.chain.snapshot.head_slot == 11
        assert dev.chain.snapshot.head_root != orphan_root

        # Five finalized checkpoints: each one moves the anchor and prunes again.
        drive(dev, client, 12, slots)
        snapshot = dev.chain.snapshot
        assert snapshot.finalized.epoch >= 5
        assert dev.db.block(orphan_root) is None
        assert dev.db.block_roots_at_slot(11) == [dev.db.canonical_root(11)]
        finalized_blocks_present(dev)
    finally:
        dev.close()


def import_orphan(dev, client, parent_slot: int, slot: int) -> bytes:
    """Import a block at `slot` on the canonical block of `parent_slot`, skipping the slots
    between, so it competes with the canonical chain and loses."""
    from caplin.transition.helpers import get_beacon_proposer_index
    from caplin.transition.slot import process_slots
    from caplin.validator.proposer import produce_block

    spec = dev.spec
    parent = dev.chain.canonical_root_at_slot(parent_slot)
    state = process_slots(spec, dev.chain.state_of(parent).copy(), slot)
    proposer_index = get_beacon_proposer_index(spec, state)
    types = spec.types(spec.fork_of(state))
    empty_aggregate = client.sync_contributions.sync_aggregate(spec, types, slot - 1, b"\x00" * 32)
    produced = produce_block(
        spec,
        state,
        parent,
        proposer_index,
        client.keys[proposer_index],
        attestations=[],
        sync_aggregate=empty_aggregate,
        engine=dev.engine,
    )
    return dev.chain.import_block(produced.signed_block).root


@pytest.mark.parametrize("engine", ["lmdb", "leveldb"])
def test_restart_resumes_head(tmp_path, engine):
    slots = 44
    dev = open_past_chain(tmp_path, "electra", slots, db_engine=engine)
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    drive(dev, client, 1, 20)
    head = dev.chain.snapshot.head_root
    dev.close()

    parameters = DevParameters(genesis_fork="electra")
    dev = open_dev_chain(tmp_path, parameters, db_engine=engine)
    try:
        assert not dev.created
        assert dev.chain.snapshot.head_root == head
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 21, slots)
        snapshot = dev.chain.snapshot
        assert snapshot.head_slot == slots
        assert snapshot.finalized.epoch >= 3
        finalized_blocks_present(dev)
    finally:
        dev.close()

    # Fork choice restarts from the finalized block, not from genesis.
    dev = open_dev_chain(tmp_path, parameters, db_engine=engine)
    try:
        assert dev.chain.snapshot.head_slot == slots
        assert dev.chain.store.finalized_checkpoint.epoch >= 2
        assert dev.db.anchor_root() != dev.db.canonical_root(0)
    finally:
        dev.close()


def test_other_parameters_are_rejected(tmp_path):
    dev = open_past_chain(tmp_path, "electra", 4, validators=16)
    dev.close()
    with pytest.raises(StorageError) as raised:
        open_dev_chain(tmp_path, DevParameters(validators=32, genesis_fork="electra"))
    assert "genesis_validators_root" in str(raised.value)


def test_other_fork_parameter_is_rejected(tmp_path):
    dev = open_past_chain(tmp_path, "electra", 4, validators=16)
    dev.close()
    with pytest.raises(StorageError) as raised:
        open_dev_chain(tmp_path, DevParameters(validators=16, genesis_fork="deneb"))
    assert raised.value.fields["parameter"] == "genesis_fork"


def test_unfinished_first_start_is_recovered(tmp_path):
    from execution import EmbeddedEngine, dev_genesis

    # A first start that wrote the execution genesis but stopped before the beacon genesis.
    EmbeddedEngine.open_lmdb(str(tmp_path / "execution"), dev_genesis(timestamp=5)).close()
    dev = open_past_chain(tmp_path, "electra", 4, validators=16)
    try:
        assert dev.created
        assert dev.engine.header_by_hash(dev.engine.genesis_hash).timestamp == dev.genesis_time
    finally:
        dev.close()
