"""Withdrawals, execution payloads, sync aggregates and BLS-to-execution changes."""

import random
from typing import Any

import pytest
from test_block_support import (
    EPOCH,
    ETH,
    MINIMAL,
    make_state,
    pubkey,
    reference,
    same_root,
    secret_key,
    to_reference,
)

from caplin.config import ChainSpec
from caplin.config.constants import (
    DOMAIN_BLS_TO_EXECUTION_CHANGE,
    DOMAIN_SYNC_COMMITTEE,
    G2_POINT_AT_INFINITY,
)
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.errors import BlockProcessingError
from caplin.transition import block
from caplin.transition.block._common import read_uint64_range
from caplin.transition.engine import FixedAnswerEngine, TrustingEngine
from caplin.transition.helpers import (
    compute_domain,
    compute_signing_root,
    get_block_root_at_slot,
    get_domain,
    get_randao_mix,
)
from caplin.transition.signatures import SignatureBatch

spec = MINIMAL


def _withdrawal_state(fork: Fork) -> Any:
    state = make_state(fork, count=24)
    state.balances[0] = 32 * ETH
    state.validators[2].withdrawable_epoch = EPOCH - 1
    state.next_withdrawal_validator_index = 1
    return state


def _payload_with(state: Any, fork: Fork, expected: block.ExpectedWithdrawals) -> Any:
    types = spec.types(fork)
    withdrawals = [withdrawal.to_ssz(spec, fork) for withdrawal in expected.withdrawals]
    return types.ExecutionPayload(withdrawals=withdrawals)


@pytest.mark.parametrize("fork", [Fork.CAPELLA, Fork.ELECTRA, Fork.FULU], ids=lambda f: f.lower)
def test_withdrawals_match_reference(fork: Fork) -> None:
    state = _withdrawal_state(fork)
    if fork >= Fork.ELECTRA:
        pending_type = spec.types(fork).PendingPartialWithdrawal
        state.balances[4] = 40 * ETH
        for amount in (ETH, 2 * ETH):
            state.pending_partial_withdrawals.append(
                pending_type(validator_index=4, amount=amount, withdrawable_epoch=EPOCH)
            )
    ref = reference(fork)
    ref_state = to_reference(fork, state, "BeaconState")

    expected = block.get_expected_withdrawals(spec, state)
    payload = _payload_with(state, fork, expected)
    block.process_withdrawals(spec, state, payload)
    ref.process_withdrawals(ref_state, to_reference(fork, payload, "ExecutionPayload"))

    assert len(expected.withdrawals) == spec.MAX_WITHDRAWALS_PER_PAYLOAD
    assert expected.withdrawals[0].validator_index == (4 if fork >= Fork.ELECTRA else 1)
    assert same_root(fork, state, ref_state)


def test_withdrawals_sweep_counts_visited_validators() -> None:
    state = make_state(Fork.CAPELLA, count=24)
    state.balances = [32 * ETH] * 24
    state.balances[20] = 33 * ETH
    state.next_withdrawal_validator_index = 18

    expected = block.get_expected_withdrawals(spec, state)

    assert [w.validator_index for w in expected.withdrawals] == [20]
    assert expected.withdrawals[0].amount == ETH
    assert expected.processed_sweep_withdrawals_count == 16


def test_withdrawals_mismatch_rejected() -> None:
    state = _withdrawal_state(Fork.CAPELLA)
    expected = block.get_expected_withdrawals(spec, state)
    payload = _payload_with(state, Fork.CAPELLA, expected)
    payload.withdrawals[3].amount = int(payload.withdrawals[3].amount) + 1
    with pytest.raises(BlockProcessingError) as raised:
        block.process_withdrawals(spec, state, payload)
    assert raised.value.rule == "withdrawals.mismatch"
    assert raised.value.fields["position"] == 3


def test_withdrawals_missing_rejected() -> None:
    state = _withdrawal_state(Fork.DENEB)
    payload = spec.types(Fork.DENEB).ExecutionPayload()
    with pytest.raises(BlockProcessingError) as raised:
        block.process_withdrawals(spec, state, payload)
    assert raised.value.rule == "withdrawals.count"
    assert raised.value.fields["actual"] == 0


def _payload_body(state: Any, fork: Fork, commitments: int = 0) -> Any:
    types = spec.types(fork)
    epoch = int(state.slot) // spec.SLOTS_PER_EPOCH
    payload = types.ExecutionPayload(
        parent_hash=state.latest_execution_payload_header.block_hash,
        prev_randao=get_randao_mix(spec, state, epoch),
        timestamp=int(state.genesis_time) + int(state.slot) * spec.SECONDS_PER_SLOT,
        block_number=7,
        block_hash=b"\x42" * 32,
    )
    body = types.BeaconBlockBody(execution_payload=payload)
    for position in range(commitments):
        body.blob_kzg_commitments.append(bytes([position]) * 48)
    return body


@pytest.mark.parametrize("fork", [Fork.CAPELLA, Fork.DENEB, Fork.FULU], ids=lambda f: f.lower)
def test_execution_payload_matches_reference(fork: Fork) -> None:
    state = make_state(fork, count=8)
    state.latest_execution_payload_header.block_hash = b"\x41" * 32
    body = _payload_body(state, fork, commitments=2 if fork >= Fork.DENEB else 0)
    ref = reference(fork)
    ref_state = to_reference(fork, state, "BeaconState")

    block.process_execution_payload(spec, state, body, TrustingEngine())
    ref.process_execution_payload(
        ref_state, to_reference(fork, body, "BeaconBlockBody"), ref.NoopExecutionEngine()
    )

    assert bytes(state.latest_execution_payload_header.block_hash) == b"\x42" * 32
    assert same_root(fork, state, ref_state)


def test_execution_payload_engine_rejection() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    body = _payload_body(state, Fork.ELECTRA)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_execution_payload(spec, state, body, FixedAnswerEngine(False))
    assert raised.value.rule == "execution_payload.invalid"


def test_execution_payload_wrong_timestamp_rejected() -> None:
    state = make_state(Fork.DENEB, count=8)
    body = _payload_body(state, Fork.DENEB)
    body.execution_payload.timestamp = int(body.execution_payload.timestamp) + 1
    with pytest.raises(BlockProcessingError) as raised:
        block.process_execution_payload(spec, state, body, TrustingEngine())
    assert raised.value.rule == "execution_payload.timestamp"


def test_blob_limit_per_fork() -> None:
    assert block.get_max_blobs_per_block(spec, make_state(Fork.DENEB, count=8)) == 6
    assert block.get_max_blobs_per_block(spec, make_state(Fork.ELECTRA, count=8)) == 9


def test_fulu_blob_limit_follows_schedule() -> None:
    config = {
        "BLOB_SCHEDULE": [
            {"EPOCH": EPOCH - 5, "MAX_BLOBS_PER_BLOCK": 3},
            {"EPOCH": EPOCH + 5, "MAX_BLOBS_PER_BLOCK": 20},
        ]
    }
    scheduled = ChainSpec.from_config(config, preset="minimal")
    state = make_state(Fork.FULU, count=8, spec=scheduled)

    assert block.get_max_blobs_per_block(scheduled, state) == 3

    body = _payload_body(state, Fork.FULU, commitments=4)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_execution_payload(scheduled, state, body, TrustingEngine())
    assert raised.value.rule == "execution_payload.blob_kzg_commitments"
    assert raised.value.fields["limit"] == 3


def _sync_state(fork: Fork) -> Any:
    state = make_state(fork, count=16)
    members = [pubkey(index % 16) for index in range(spec.SYNC_COMMITTEE_SIZE)]
    state.current_sync_committee.pubkeys = members
    state.current_sync_committee.aggregate_pubkey = bls.AggregatePKs(members)
    state.slot = int(state.slot) + 1
    return state


def test_empty_sync_aggregate_matches_reference() -> None:
    fork = Fork.ALTAIR
    state = _sync_state(fork)
    aggregate = spec.types(fork).SyncAggregate(sync_committee_signature=G2_POINT_AT_INFINITY)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_sync_aggregate(spec, state, aggregate, sigs)
    sigs.verify()
    reference(fork).process_sync_aggregate(
        ref_state, to_reference(fork, aggregate, "SyncAggregate")
    )

    assert int(state.balances[0]) < 32 * ETH
    assert same_root(fork, state, ref_state)


def test_empty_sync_aggregate_needs_infinity_signature() -> None:
    state = _sync_state(Fork.ALTAIR)
    aggregate = spec.types(Fork.ALTAIR).SyncAggregate(sync_committee_signature=b"\x01" * 96)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_sync_aggregate(spec, state, aggregate, SignatureBatch())
    assert raised.value.rule == "sync_aggregate.signature"


def test_bls_to_execution_change_matches_reference() -> None:
    fork = Fork.CAPELLA
    state = make_state(fork, count=8)
    state.validators[6].withdrawal_credentials = b"\x00" + sha256(pubkey(6))[1:]
    types = spec.types(fork)
    change = types.BLSToExecutionChange(
        validator_index=6, from_bls_pubkey=pubkey(6), to_execution_address=b"\x77" * 20
    )
    domain = compute_domain(
        spec, DOMAIN_BLS_TO_EXECUTION_CHANGE, None, state.genesis_validators_root
    )
    signature = bls.Sign(secret_key(6), compute_signing_root(spec, change, domain))
    signed = types.SignedBLSToExecutionChange(message=change, signature=signature)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_bls_to_execution_change(spec, state, signed, sigs)
    sigs.verify()
    reference(fork).process_bls_to_execution_change(
        ref_state, to_reference(fork, signed, "SignedBLSToExecutionChange")
    )

    assert (
        bytes(state.validators[6].withdrawal_credentials) == b"\x01" + b"\x00" * 11 + b"\x77" * 20
    )
    assert same_root(fork, state, ref_state)


def test_bls_to_execution_change_wrong_pubkey_rejected() -> None:
    state = make_state(Fork.CAPELLA, count=8)
    state.validators[6].withdrawal_credentials = b"\x00" + sha256(pubkey(6))[1:]
    types = spec.types(Fork.CAPELLA)
    change = types.BLSToExecutionChange(
        validator_index=6, from_bls_pubkey=pubkey(5), to_execution_address=b"\x77" * 20
    )
    signed = types.SignedBLSToExecutionChange(message=change)
    with pytest.raises(BlockProcessingError) as raised:
        block.process_bls_to_execution_change(spec, state, signed, SignatureBatch())
    assert raised.value.rule == "bls_to_execution_change.pubkey"


@pytest.mark.parametrize("start,count", [(0, 0), (0, 1), (3, 9), (5, 40), (0, 77), (76, 1)])
def test_read_uint64_range_matches_views(start: int, count: int) -> None:
    state = make_state(Fork.CAPELLA, count=77)
    state.balances = [index * 1_000_003 + 7 for index in range(77)]

    values = read_uint64_range(state.balances, start, count)

    assert values.tolist() == [int(state.balances[i]) for i in range(start, start + count)]


def test_read_uint64_range_past_end_rejected() -> None:
    state = make_state(Fork.CAPELLA, count=8)
    with pytest.raises(BlockProcessingError):
        read_uint64_range(state.balances, 5, 4)


def test_withdrawals_sweep_wraps_around() -> None:
    state = make_state(Fork.CAPELLA, count=24)
    state.balances = [32 * ETH] * 24
    state.balances[1] = 34 * ETH
    state.balances[22] = 33 * ETH
    state.next_withdrawal_validator_index = 20

    expected = block.get_expected_withdrawals(spec, state)

    assert [w.validator_index for w in expected.withdrawals] == [22, 1]
    assert [w.amount for w in expected.withdrawals] == [ETH, 2 * ETH]


def _full_sync_aggregate(state: Any, fork: Fork) -> Any:
    previous_slot = int(state.slot) - 1
    domain = get_domain(spec, state, DOMAIN_SYNC_COMMITTEE, previous_slot // spec.SLOTS_PER_EPOCH)
    root = compute_signing_root(spec, get_block_root_at_slot(spec, state, previous_slot), domain)
    signatures = [bls.Sign(secret_key(i % 16), root) for i in range(spec.SYNC_COMMITTEE_SIZE)]
    return spec.types(fork).SyncAggregate(
        sync_committee_bits=[True] * spec.SYNC_COMMITTEE_SIZE,
        sync_committee_signature=bls.Aggregate(signatures),
    )


def test_full_sync_aggregate_matches_reference() -> None:
    fork = Fork.DENEB
    state = _sync_state(fork)
    aggregate = _full_sync_aggregate(state, fork)
    ref_state = to_reference(fork, state, "BeaconState")
    sigs = SignatureBatch()

    block.process_sync_aggregate(spec, state, aggregate, sigs)
    sigs.verify()
    reference(fork).process_sync_aggregate(
        ref_state, to_reference(fork, aggregate, "SyncAggregate")
    )

    assert int(state.balances[0]) > 32 * ETH
    assert same_root(fork, state, ref_state)


def test_sync_reward_overflow_rejected() -> None:
    state = _sync_state(Fork.DENEB)
    state.balances[3] = 2**64 - 100
    aggregate = spec.types(Fork.DENEB).SyncAggregate(
        sync_committee_bits=[True] * spec.SYNC_COMMITTEE_SIZE
    )
    with pytest.raises(BlockProcessingError) as raised:
        block.process_sync_aggregate(spec, state, aggregate, SignatureBatch(enabled=False))
    assert raised.value.rule == "sync_aggregate"
    assert "uint64" in raised.value.message


@pytest.mark.parametrize("fork", [Fork.CAPELLA, Fork.ELECTRA], ids=lambda f: f.lower)
def test_random_withdrawal_states_match_reference(fork: Fork) -> None:
    rng = random.Random(7)
    ref = reference(fork)
    found = 0
    for trial in range(6):
        state = make_state(fork, count=40)
        for index in range(40):
            prefix = rng.choice([b"\x00", b"\x01", b"\x02"])
            state.validators[index].withdrawal_credentials = prefix + bytes(31)
            state.validators[index].withdrawable_epoch = rng.choice([EPOCH - 1, EPOCH + 1])
            state.validators[index].effective_balance = rng.choice([31, 32, 2048]) * ETH
            state.balances[index] = rng.choice([0, 31 * ETH, 32 * ETH, 33 * ETH, 2049 * ETH])
        state.next_withdrawal_validator_index = rng.randrange(40)
        if fork >= Fork.ELECTRA:
            pending_type = spec.types(fork).PendingPartialWithdrawal
            for _ in range(rng.randrange(4)):
                state.pending_partial_withdrawals.append(
                    pending_type(
                        validator_index=rng.randrange(40),
                        amount=rng.choice([ETH, 5 * ETH]),
                        withdrawable_epoch=rng.choice([EPOCH, EPOCH + 1]),
                    )
                )

        expected = block.get_expected_withdrawals(spec, state)
        ref_expected = ref.get_expected_withdrawals(to_reference(fork, state, "BeaconState"))

        actual = [
            withdrawal.to_ssz(spec, fork).encode_bytes() for withdrawal in expected.withdrawals
        ]
        wanted = [ref.ssz_serialize(withdrawal) for withdrawal in ref_expected.withdrawals]
        assert actual == wanted, trial
        assert expected.processed_sweep_withdrawals_count == int(
            ref_expected.processed_sweep_withdrawals_count
        ), trial
        found += len(actual)
    assert found > 5
