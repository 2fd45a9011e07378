"""process_block end to end on synthetic altair and capella states."""

from typing import Any

import pytest
from remerkleable.basic import uint64
from test_block_support import (
    EPOCH,
    MINIMAL,
    make_state,
    pubkey,
    reference,
    same_root,
    sign,
    to_reference,
)

from caplin.config.constants import DOMAIN_RANDAO, G2_POINT_AT_INFINITY
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import BlockProcessingError
from caplin.transition import block
from caplin.transition.engine import TrustingEngine
from caplin.transition.helpers import get_beacon_proposer_index, get_randao_mix
from caplin.transition.signatures import SignatureBatch

spec = MINIMAL


def _block_state(fork: Fork) -> Any:
    state = make_state(fork, count=32)
    state.slot = int(state.slot) + 1
    members = [pubkey(index % 32) for index in range(spec.SYNC_COMMITTEE_SIZE)]
    state.current_sync_committee.pubkeys = members
    state.current_sync_committee.aggregate_pubkey = bls.AggregatePKs(members)
    return state


def _block(state: Any, fork: Fork) -> Any:
    types = spec.types(fork)
    proposer = get_beacon_proposer_index(spec, state)
    body = types.BeaconBlockBody(
        randao_reveal=sign(spec, state, proposer, uint64(EPOCH), DOMAIN_RANDAO),
        eth1_data=state.eth1_data,
        sync_aggregate=types.SyncAggregate(sync_committee_signature=G2_POINT_AT_INFINITY),
    )
    if fork >= Fork.CAPELLA:
        expected = block.get_expected_withdrawals(spec, state)
        body.execution_payload = types.ExecutionPayload(
            parent_hash=state.latest_execution_payload_header.block_hash,
            prev_randao=get_randao_mix(spec, state, EPOCH),
            timestamp=int(state.genesis_time) + int(state.slot) * spec.SECONDS_PER_SLOT,
            withdrawals=[withdrawal.to_ssz(spec, fork) for withdrawal in expected.withdrawals],
        )
    return types.BeaconBlock(
        slot=state.slot,
        proposer_index=proposer,
        parent_root=state.latest_block_header.hash_tree_root(),
        body=body,
    )


@pytest.mark.parametrize("fork", [Fork.ALTAIR, Fork.CAPELLA], ids=lambda f: f.lower)
def test_process_block_matches_reference(fork: Fork) -> None:
    state = _block_state(fork)
    beacon_block = _block(state, fork)
    ref = reference(fork)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_block(spec, state, beacon_block, sigs, TrustingEngine())
    sigs.verify()
    ref.process_block(ref_state, to_reference(fork, beacon_block, "BeaconBlock"))

    assert len(state.eth1_data_votes) == 1
    assert same_root(fork, state, ref_state)


def test_process_block_bad_randao_fails_batch() -> None:
    state = _block_state(Fork.ALTAIR)
    beacon_block = _block(state, Fork.ALTAIR)
    beacon_block.body.randao_reveal = sign(spec, state, 0, uint64(EPOCH + 1), DOMAIN_RANDAO)
    sigs = SignatureBatch()
    block.process_block(spec, state, beacon_block, sigs, TrustingEngine())
    with pytest.raises(BlockProcessingError) as raised:
        sigs.verify()
    assert raised.value.rule == "signature"
    assert "randao_reveal" in raised.value.message


def test_process_block_wrong_slot_rejected() -> None:
    state = _block_state(Fork.ALTAIR)
    beacon_block = _block(state, Fork.ALTAIR)
    beacon_block.slot = int(state.slot) + 1
    with pytest.raises(BlockProcessingError) as raised:
        block.process_block(spec, state, beacon_block, SignatureBatch(), TrustingEngine())
    assert raised.value.rule == "block_header.slot"
    assert raised.value.fields["block_slot"] == int(state.slot) + 1


def test_process_block_wrong_proposer_rejected() -> None:
    state = _block_state(Fork.ALTAIR)
    beacon_block = _block(state, Fork.ALTAIR)
    expected = int(beacon_block.proposer_index)
    beacon_block.proposer_index = (expected + 1) % 32
    with pytest.raises(BlockProcessingError) as raised:
        block.process_block(spec, state, beacon_block, SignatureBatch(), TrustingEngine())
    assert raised.value.rule == "block_header.proposer_index"
    assert raised.value.fields["expected"] == expected


def test_process_block_other_fork_rejected() -> None:
    state = _block_state(Fork.CAPELLA)
    altair_block = _block(_block_state(Fork.ALTAIR), Fork.ALTAIR)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_block(spec, state, altair_block, SignatureBatch(), TrustingEngine())
    assert raised.value.rule == "block.fork"
    assert raised.value.fields["block_fork"] == "altair"
