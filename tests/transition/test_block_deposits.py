"""Deposits: merkle proofs, skipped invalid signatures, top-ups, electra pending deposits,
fulu's end of the eth1 bridge and the execution-layer requests."""

import random
from typing import Any

import pytest
from test_block_support import (
    EPOCH,
    ETH,
    MINIMAL,
    credentials,
    make_state,
    pubkey,
    reference,
    same_root,
    secret_key,
    to_reference,
)

from caplin.config.constants import DEPOSIT_CONTRACT_TREE_DEPTH, DOMAIN_DEPOSIT, GENESIS_SLOT
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.errors import BlockProcessingError
from caplin.transition import block
from caplin.transition.helpers import compute_domain, compute_signing_root
from caplin.transition.signatures import SignatureBatch

spec = MINIMAL


def _deposit_data(fork: Fork, index: int, amount: int, valid: bool = True) -> Any:
    types = spec.types(fork)
    message = types.DepositMessage(
        pubkey=pubkey(index), withdrawal_credentials=credentials(b"\x01", index), amount=amount
    )
    domain = compute_domain(spec, DOMAIN_DEPOSIT)
    signer = secret_key(index) if valid else secret_key(index) + 1000
    signature = bls.Sign(signer, compute_signing_root(spec, message, domain))
    return types.DepositData(
        pubkey=message.pubkey,
        withdrawal_credentials=message.withdrawal_credentials,
        amount=amount,
        signature=signature,
    )


def _with_proofs(state: Any, fork: Fork, data: list[Any]) -> list[Any]:
    """Point the state's eth1_data at a deposit tree of `data`; return the proven deposits."""
    leaves = [bytes(item.hash_tree_root()) for item in data]
    zero = b"\x00" * 32
    levels = [leaves]
    for _ in range(DEPOSIT_CONTRACT_TREE_DEPTH):
        below = levels[-1]
        if len(below) % 2:
            below = below + [zero]
        levels.append([sha256(below[i] + below[i + 1]) for i in range(0, len(below), 2)])
        zero = sha256(zero + zero)
    length = len(data).to_bytes(32, "little")
    state.eth1_data.deposit_root = sha256(levels[-1][0] + length)
    state.eth1_data.deposit_count = len(data)
    state.eth1_deposit_index = 0

    deposits = []
    for position, item in enumerate(data):
        branch = []
        zero = b"\x00" * 32
        for depth in range(DEPOSIT_CONTRACT_TREE_DEPTH):
            sibling = (position >> depth) ^ 1
            level = levels[depth]
            branch.append(level[sibling] if sibling < len(level) else zero)
            zero = sha256(zero + zero)
        branch.append(length)
        deposits.append(spec.types(fork).Deposit(proof=branch, data=item))
    return deposits


@pytest.mark.parametrize("fork", [Fork.PHASE0, Fork.ALTAIR, Fork.ELECTRA], ids=lambda f: f.lower)
def test_new_deposits_match_reference(fork: Fork) -> None:
    state = make_state(fork, count=8)
    data = [_deposit_data(fork, 8, 32 * ETH), _deposit_data(fork, 9, 5 * ETH, valid=False)]
    data.append(_deposit_data(fork, 3, 2 * ETH))
    deposits = _with_proofs(state, fork, data)
    ref = reference(fork)
    ref_state = to_reference(fork, state, "BeaconState")

    for deposit in deposits:
        block.process_deposit(spec, state, deposit)
        ref.process_deposit(ref_state, to_reference(fork, deposit, "Deposit"))

    assert len(state.validators) == 9
    assert int(state.eth1_deposit_index) == 3
    assert same_root(fork, state, ref_state)


def test_deposit_with_wrong_proof_rejected() -> None:
    state = make_state(Fork.ALTAIR, count=8)
    deposits = _with_proofs(state, Fork.ALTAIR, [_deposit_data(Fork.ALTAIR, 8, 32 * ETH)])
    deposits[0].proof[3] = b"\x99" * 32
    with pytest.raises(BlockProcessingError) as raised:
        block.process_deposit(spec, state, deposits[0])
    assert raised.value.rule == "deposit.proof"
    assert raised.value.fields["deposit_index"] == 0


def test_deposit_invalid_signature_skipped() -> None:
    state = make_state(Fork.CAPELLA, count=8)
    deposits = _with_proofs(
        state, Fork.CAPELLA, [_deposit_data(Fork.CAPELLA, 8, 32 * ETH, valid=False)]
    )
    block.process_deposit(spec, state, deposits[0])
    assert len(state.validators) == 8
    assert int(state.eth1_deposit_index) == 1


def test_deposit_top_up_overflow_rejected() -> None:
    state = make_state(Fork.ALTAIR, count=8)
    state.balances[2] = 2**64 - ETH
    deposits = _with_proofs(state, Fork.ALTAIR, [_deposit_data(Fork.ALTAIR, 2, 2 * ETH)])
    with pytest.raises(BlockProcessingError) as raised:
        block.process_deposit(spec, state, deposits[0])
    assert raised.value.rule == "deposit"
    assert "uint64" in raised.value.message


def test_electra_deposit_queues_pending_deposit() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    deposits = _with_proofs(state, Fork.ELECTRA, [_deposit_data(Fork.ELECTRA, 8, 32 * ETH)])
    block.process_deposit(spec, state, deposits[0])
    assert int(state.balances[8]) == 0
    assert len(state.pending_deposits) == 1
    assert int(state.pending_deposits[0].amount) == 32 * ETH
    assert int(state.pending_deposits[0].slot) == GENESIS_SLOT


def _body(fork: Fork, deposits: list[Any]) -> Any:
    return spec.types(fork).BeaconBlockBody(deposits=deposits)


def test_block_missing_deposits_rejected() -> None:
    state = make_state(Fork.DENEB, count=8)
    _with_proofs(state, Fork.DENEB, [_deposit_data(Fork.DENEB, 8, 32 * ETH)])
    with pytest.raises(BlockProcessingError) as raised:
        block.process_operations(spec, state, _body(Fork.DENEB, []), SignatureBatch())
    assert raised.value.rule == "deposits.count"
    assert raised.value.fields == {"expected": 1, "actual": 0}


def test_electra_bridge_stops_at_first_request() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    _with_proofs(state, Fork.ELECTRA, [_deposit_data(Fork.ELECTRA, 8, 32 * ETH)])
    state.deposit_requests_start_index = 0
    block.process_operations(spec, state, _body(Fork.ELECTRA, []), SignatureBatch())
    assert int(state.eth1_deposit_index) == 0


def test_fulu_rejects_bridge_deposits() -> None:
    state = make_state(Fork.FULU, count=8)
    deposits = _with_proofs(state, Fork.FULU, [_deposit_data(Fork.FULU, 8, 32 * ETH)])
    with pytest.raises(BlockProcessingError) as raised:
        block.process_operations(spec, state, _body(Fork.FULU, deposits), SignatureBatch())
    assert raised.value.rule == "deposits.count"
    assert raised.value.fields == {"expected": 0, "actual": 1}


@pytest.mark.parametrize("fork", [Fork.ELECTRA, Fork.FULU], ids=lambda f: f.lower)
def test_deposit_request_matches_reference(fork: Fork) -> None:
    state = make_state(fork, count=8)
    data = _deposit_data(fork, 8, 32 * ETH)
    request = spec.types(fork).DepositRequest(
        pubkey=data.pubkey,
        withdrawal_credentials=data.withdrawal_credentials,
        amount=data.amount,
        signature=data.signature,
        index=7,
    )
    ref_state = to_reference(fork, state, "BeaconState")
    block.process_deposit_request(spec, state, request)
    reference(fork).process_deposit_request(
        ref_state, to_reference(fork, request, "DepositRequest")
    )
    assert len(state.pending_deposits) == 1
    assert same_root(fork, state, ref_state)


def test_withdrawal_request_unknown_pubkey_ignored() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    before = state.hash_tree_root()
    request = spec.types(Fork.ELECTRA).WithdrawalRequest(
        source_address=b"\x01" * 20, validator_pubkey=pubkey(50), amount=0
    )
    block.process_withdrawal_request(spec, state, request)
    assert state.hash_tree_root() == before


def test_withdrawal_request_full_exit() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    address = credentials(b"\x01", 3)[12:]
    request = spec.types(Fork.ELECTRA).WithdrawalRequest(
        source_address=address, validator_pubkey=pubkey(3), amount=0
    )
    ref_state = to_reference(Fork.ELECTRA, state, "BeaconState")
    block.process_withdrawal_request(spec, state, request)
    reference(Fork.ELECTRA).process_withdrawal_request(
        ref_state, to_reference(Fork.ELECTRA, request, "WithdrawalRequest")
    )
    assert int(state.validators[3].exit_epoch) < 2**64 - 1
    assert same_root(Fork.ELECTRA, state, ref_state)


def test_consolidation_request_switches_to_compounding() -> None:
    state = make_state(Fork.ELECTRA, count=8)
    state.balances[3] = 40 * ETH
    address = credentials(b"\x01", 3)[12:]
    request = spec.types(Fork.ELECTRA).ConsolidationRequest(
        source_address=address, source_pubkey=pubkey(3), target_pubkey=pubkey(3)
    )
    ref_state = to_reference(Fork.ELECTRA, state, "BeaconState")
    block.process_consolidation_request(spec, state, request)
    reference(Fork.ELECTRA).process_consolidation_request(
        ref_state, to_reference(Fork.ELECTRA, request, "ConsolidationRequest")
    )
    assert bytes(state.validators[3].withdrawal_credentials)[:1] == b"\x02"
    assert len(state.pending_deposits) == 1
    assert same_root(Fork.ELECTRA, state, ref_state)


def _random_request_state(rng: random.Random, fork: Fork) -> Any:
    state = make_state(fork, count=24)
    for index in range(24):
        validator = state.validators[index]
        prefix = rng.choice([b"\x00", b"\x01", b"\x02", b"\x02"])
        validator.withdrawal_credentials = credentials(prefix, index)
        validator.effective_balance = rng.choice([16, 32, 40]) * ETH
        if rng.random() < 0.2:
            validator.exit_epoch = EPOCH + 3
        if rng.random() < 0.1:
            validator.activation_epoch = EPOCH - 1
        state.balances[index] = rng.choice([16, 32, 33, 60]) * ETH
    pending_type = spec.types(fork).PendingPartialWithdrawal
    for _ in range(rng.randrange(3)):
        state.pending_partial_withdrawals.append(
            pending_type(validator_index=rng.randrange(24), amount=ETH, withdrawable_epoch=EPOCH)
        )
    return state


@pytest.mark.parametrize("fork", [Fork.ELECTRA, Fork.FULU], ids=lambda f: f.lower)
def test_random_execution_requests_match_reference(fork: Fork) -> None:
    rng = random.Random(11)
    ref = reference(fork)
    types = spec.types(fork)
    changes = 0
    for trial in range(4):
        state = _random_request_state(rng, fork)
        ref_state = to_reference(fork, state, "BeaconState")
        for _ in range(12):
            before = state.hash_tree_root()
            source = rng.randrange(26)
            address = credentials(b"\x01", source)[12:] if rng.random() < 0.8 else b"\x09" * 20
            if rng.random() < 0.5:
                request = types.WithdrawalRequest(
                    source_address=address,
                    validator_pubkey=pubkey(source),
                    amount=rng.choice([0, ETH, 30 * ETH]),
                )
                block.process_withdrawal_request(spec, state, request)
                ref.process_withdrawal_request(
                    ref_state, to_reference(fork, request, "WithdrawalRequest")
                )
            else:
                target = source if rng.random() < 0.3 else rng.randrange(26)
                request = types.ConsolidationRequest(
                    source_address=address,
                    source_pubkey=pubkey(source),
                    target_pubkey=pubkey(target),
                )
                block.process_consolidation_request(spec, state, request)
                ref.process_consolidation_request(
                    ref_state, to_reference(fork, request, "ConsolidationRequest")
                )
            assert same_root(fork, state, ref_state), trial
            changes += state.hash_tree_root() != before
    assert changes >= 4
