"""Blob transactions on a dev chain: sidecars of own blocks, availability, storage, restart."""

import sys
from pathlib import Path

import pytest

from caplin.blobs import blobs_of, build_sidecars, sidecar_matches_block
from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.merkle import get_generalized_index, get_subtree_index, is_valid_merkle_branch
from caplin.node.setup import DevParameters, open_dev_chain
from caplin.peerdas import (
    verify_data_column_sidecar_inclusion_proof,
    verify_data_column_sidecar_kzg_proofs,
)
from caplin.transition.helpers import get_beacon_proposer_index
from caplin.transition.slot import process_slots
from caplin.validator.client import ValidatorClient
from forkchoice.errors import BlockNotReadyError
from tests.node.devnet import drive, open_past_chain

sys.path.insert(0, str(Path(__file__).parents[1] / "execution"))
from test_blobs import blob_set, sign_blob  # noqa: E402

VALIDATORS = 16


@pytest.fixture()
def blobs():
    return blob_set()


def add_blob_transaction(dev, blobs, sender: int = 3) -> None:
    network_form, _ = sign_blob(blobs, sender, 0, [0, 1], cell_proofs=True)
    state = dev.engine.state_at(dev.engine.head())
    dev.txpool.add(network_form, lambda a: (state.get_nonce(a), state.get_balance(a)))


def blob_block(dev):
    """Return (root, signed block) of the head chain's block that carries blobs."""
    root = dev.chain.snapshot.head_root
    while root in dev.chain.store.blocks:
        signed = dev.db.block(root)
        if signed is None:
            break
        if len(signed.message.body.blob_kzg_commitments) > 0:
            return root, signed
        root = bytes(signed.message.parent_root)
    raise AssertionError("no block with blob commitments on the head chain")


def produce_without_import(dev, client, slot: int):
    """Produce the block of `slot` on the head as the proposer duty does, without importing it."""
    state = process_slots(dev.spec, dev.chain.snapshot.head_state.copy(), slot)
    proposer = get_beacon_proposer_index(dev.spec, state)
    head = dev.chain.snapshot.head_root
    types = dev.spec.types(dev.spec.fork_of(state))
    sync_aggregate = client.sync_contributions.sync_aggregate(dev.spec, types, slot - 1, head)
    return client._produce(state, head, proposer, client.keys[proposer], [], sync_aggregate)


def check_inclusion_proofs(dev, sidecars) -> None:
    spec = dev.spec
    for sidecar in sidecars:
        if hasattr(sidecar, "column"):
            assert verify_data_column_sidecar_inclusion_proof(spec, sidecar)
            assert verify_data_column_sidecar_kzg_proofs(spec, sidecar)
            continue
        body_type = spec.types(Fork.ELECTRA).BeaconBlockBody
        gindex = get_generalized_index(body_type, "blob_kzg_commitments", int(sidecar.index))
        assert is_valid_merkle_branch(
            bytes(sidecar.kzg_commitment.hash_tree_root()),
            [bytes(node) for node in sidecar.kzg_commitment_inclusion_proof],
            int(spec.KZG_COMMITMENT_INCLUSION_PROOF_DEPTH),
            get_subtree_index(gindex),
            bytes(sidecar.signed_block_header.message.body_root),
        )
        assert kzg.verify_blob_kzg_proof(
            bytes(sidecar.blob), bytes(sidecar.kzg_commitment), bytes(sidecar.kzg_proof)
        )


@pytest.mark.parametrize(("fork", "expected_sidecars"), [("electra", 2), ("fulu", 128)])
def test_blob_block_stored_and_replayed(tmp_path, blobs, fork, expected_sidecars):
    dev = open_past_chain(tmp_path, fork, slots=8, validators=VALIDATORS)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 1, 1)
        add_blob_transaction(dev, blobs)
        drive(dev, client, 2, 4)
        assert dev.chain.snapshot.head_slot == 4
        root, signed = blob_block(dev)
        sidecars = dev.db.sidecars(root)
        assert len(sidecars) == expected_sidecars
        assert [int(sidecar.index) for sidecar in sidecars] == list(range(expected_sidecars))
        assert blobs_of(dev.spec, signed.message, sidecars) == [blobs[0][0], blobs[1][0]]
        check_inclusion_proofs(dev, sidecars)
        assert all(sidecar_matches_block(dev.spec, sidecar, signed) for sidecar in sidecars)
        resigned = sidecars[0].copy()
        resigned.signed_block_header.signature = b"\x01" * 96
        assert not sidecar_matches_block(dev.spec, resigned, signed)
        if fork == "electra":
            # A blob sidecar's index selects the commitment its inclusion proof is for. A
            # column's index is checked later, by the KZG proofs of its cells.
            moved = sidecars[1].copy()
            moved.index = 0
            assert not sidecar_matches_block(dev.spec, moved, signed)
        head = dev.chain.snapshot.head_root
    finally:
        dev.close()

    # A restart replays the stored blocks through fork choice, availability check included.
    dev = open_dev_chain(tmp_path, DevParameters(validators=VALIDATORS, genesis_fork=fork))
    try:
        assert dev.chain.snapshot.head_root == head
        assert root in dev.chain.store.blocks
    finally:
        dev.close()


@pytest.mark.parametrize("fork", ["electra", "fulu"])
def test_block_without_sidecars_not_imported(tmp_path, blobs, fork):
    dev = open_past_chain(tmp_path, fork, slots=8, validators=VALIDATORS)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 1, 1)
        add_blob_transaction(dev, blobs)
        # The block of slot 2, imported first with no sidecars offered.
        produced = produce_without_import(dev, client, 2)
        assert len(produced.signed_block.message.body.blob_kzg_commitments) == 2
        assert produced.sidecars
        with pytest.raises(BlockNotReadyError) as raised:
            dev.chain.import_block(produced.signed_block)
        assert "data_available" in str(raised.value)

        # Offered, the same block imports and its sidecars are stored with it.
        root = bytes(produced.signed_block.message.hash_tree_root())
        dev.chain.availability.offer(root, produced.sidecars)
        dev.chain.import_block(produced.signed_block)
        assert root in dev.chain.store.blocks
        assert len(dev.db.sidecars(root)) == len(produced.sidecars)

        # Past the retention window the sidecars go, once; the block stays.
        assert dev.db.prune_sidecars(2) == 0
        assert dev.db.prune_sidecars(3) == len(produced.sidecars)
        assert dev.db.sidecars(root) == []
        assert dev.db.block(root) is not None
        assert dev.db.prune_sidecars(3) == 0
    finally:
        dev.close()


def test_build_sidecars_rejects_blob_count(tmp_path, blobs):
    dev = open_past_chain(tmp_path, "electra", slots=4, validators=VALIDATORS)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        add_blob_transaction(dev, blobs)
        signed = client.propose(1)
        assert len(signed.message.body.blob_kzg_commitments) == 2
        with pytest.raises(ValueError, match="1 blobs for 2 blob commitments"):
            build_sidecars(dev.spec, signed, [blobs[0][0]], [blobs[0][2]])
    finally:
        dev.close()


def test_replay_accepts_stored_custody_columns(tmp_path, blobs):
    # A node on a network stores only its custody columns of a block from a peer. Its restart
    # replays that block before the network (and so the custody set) is known.
    dev = open_past_chain(tmp_path, "fulu", slots=8, validators=VALIDATORS)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 1, 1)
        add_blob_transaction(dev, blobs)
        drive(dev, client, 2, 3)
        root, _ = blob_block(dev)
        head = dev.chain.snapshot.head_root
        with dev.db.kv.write() as txn:
            for column in range(4, 128):
                txn.delete("sidecars", root + column.to_bytes(8, "big"))
        assert len(dev.db.sidecars(root)) == 4
    finally:
        dev.close()
    dev = open_dev_chain(tmp_path, DevParameters(validators=VALIDATORS, genesis_fork="fulu"))
    try:
        assert dev.chain.snapshot.head_root == head
        assert root in dev.chain.store.blocks
        assert dev.chain.availability.replaying is False
    finally:
        dev.close()


def test_failed_download_does_not_block_block(tmp_path, blobs):
    dev = open_past_chain(tmp_path, "electra", slots=8, validators=VALIDATORS)
    try:
        client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
        drive(dev, client, 1, 1)
        add_blob_transaction(dev, blobs)
        produced = produce_without_import(dev, client, 2)
        root = bytes(produced.signed_block.message.hash_tree_root())

        # A peer's sidecar with a wrong proof: the import fails and the offer is dropped.
        bad = produced.sidecars[0].copy()
        bad.kzg_proof = produced.sidecars[1].kzg_proof
        dev.chain.availability.offer(root, [bad, produced.sidecars[1]])
        with pytest.raises(BlockNotReadyError):
            dev.chain.import_block(produced.signed_block)
        # A correct download from another peer then imports the block.
        dev.chain.availability.offer(root, produced.sidecars)
        dev.chain.import_block(produced.signed_block)
        assert root in dev.chain.store.blocks
        assert [int(s.index) for s in dev.db.sidecars(root)] == [0, 1]
    finally:
        dev.close()
