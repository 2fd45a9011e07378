"""Transaction pool admission and payload building."""

import pytest
from eth_account import Account
from execution_testkit import ACCOUNTS, add, new_node, sign

from execution.builder import build_payload, next_gas_limit
from execution.errors import TransactionPoolError, UnknownParentError
from execution.payload import Withdrawal


@pytest.fixture()
def node():
    return new_node()


def rejection(node, raw) -> str:
    with pytest.raises(TransactionPoolError) as raised:
        add(node, raw)
    return raised.value.message


def test_pool_rejects_invalid_transactions(node):
    add(node, sign(0, 0))
    node.build_block()
    assert rejection(node, sign(0, 0)) == "nonce too low"
    poor = Account.create()
    raw = Account.sign_transaction(
        {
            "to": poor.address,
            "value": 1,
            "gas": 21000,
            "maxFeePerGas": 10**9,
            "maxPriorityFeePerGas": 1,
            "nonce": 0,
            "chainId": 31337,
            "type": 2,
        },
        poor.key,
    ).raw_transaction
    assert rejection(node, bytes(raw)) == "insufficient funds for gas * price + value"
    assert rejection(node, sign(1, 0, gas=20_000)) == "intrinsic gas too low"
    assert rejection(node, sign(1, 0, gas=40_000_000)) == "exceeds block gas limit"
    assert rejection(node, sign(1, 0, tip=10**11, max_fee=10**10)).startswith("max priority fee")
    assert rejection(node, b"\x02\xc0").startswith("invalid transaction")


def test_pool_rejects_wrong_chain_and_oversize(node):
    raw = Account.sign_transaction(
        {
            "to": ACCOUNTS[2][0],
            "value": 1,
            "gas": 21000,
            "gasPrice": 10**10,
            "nonce": 0,
            "chainId": 1,
        },
        ACCOUNTS[1][1],
    ).raw_transaction
    assert rejection(node, bytes(raw)) == "invalid chain id"
    big = sign(1, 0, data=b"\x01" * (130 * 1024), gas=10_000_000)
    assert rejection(node, big) == "oversized transaction"


def test_replacement_needs_fee_bump(node):
    first = add(node, sign(3, 0, max_fee=10**10, tip=10**9))
    assert rejection(node, sign(3, 0, max_fee=10**10 + 1, tip=10**9 + 1, value=2)) == (
        "replacement transaction underpriced"
    )
    replacement = add(node, sign(3, 0, max_fee=11 * 10**9, tip=11 * 10**8, value=3))
    assert node.pool.get(first) is None
    built = node.build_block()
    assert built.transaction_hashes == (replacement,)


def test_builder_orders_by_tip_and_nonce(node):
    low = add(node, sign(0, 0, tip=10**9))
    high_second = add(node, sign(1, 1, tip=5 * 10**9))
    high_first = add(node, sign(1, 0, tip=3 * 10**9))
    gap = add(node, sign(2, 1))  # nonce 0 of sender 2 is missing
    built = node.build_block()
    assert built.transaction_hashes == (high_first, high_second, low)
    assert node.pool.get(gap) is not None
    assert built.block_value == 21000 * (3 * 10**9 + 5 * 10**9 + 10**9)


def test_builder_respects_gas_limit(node):
    for nonce in range(3):
        add(node, sign(4, nonce, gas=12_000_000, data=b"\x00" * 10))
    built = node.build_block()
    assert len(built.transaction_hashes) == 2
    assert len(node.pool) == 1


def test_builder_sets_block_fields(node):
    head = node.engine.head()
    withdrawal = Withdrawal(index=0, validator_index=3, address=b"\x77" * 20, amount=5)
    built = build_payload(
        node.engine,
        None,
        parent_hash=head.hash,
        timestamp=head.timestamp + 12,
        fee_recipient=b"\x66" * 20,
        prev_randao=b"\x99" * 32,
        parent_beacon_block_root=b"\x88" * 32,
        withdrawals=[withdrawal],
        desired_gas_limit=60_000_000,
        extra_data=b"caplin",
    )
    payload = built.request.payload
    assert payload.fee_recipient == b"\x66" * 20
    assert payload.prev_randao == b"\x99" * 32
    assert payload.extra_data == b"caplin"
    assert payload.withdrawals == (withdrawal,)
    assert payload.gas_limit == next_gas_limit(head.gas_limit, 60_000_000) > head.gas_limit
    node.engine.execute_batch([built.request])
    state = node.engine.state_at(node.engine.head())
    assert state.get_balance(b"\x77" * 20) == 5 * 10**9  # Gwei to Wei
    beacon_roots = bytes.fromhex("000f3df6d732807ef1319fb7b8bb8522d0beac02")
    slot = payload.timestamp % 8191 + 8191
    assert state.get_storage(beacon_roots, slot) == int.from_bytes(b"\x88" * 32, "big")


def test_next_gas_limit_steps():
    assert next_gas_limit(30_000_000, None) == 30_000_000
    assert next_gas_limit(30_000_000, 30_000_100) == 30_000_100
    assert next_gas_limit(30_000_000, 10**9) == 30_000_000 + 30_000_000 // 1024 - 1
    assert next_gas_limit(30_000_000, 0) == 30_000_000 - 30_000_000 // 1024 + 1


def test_import_built_needs_parent(chain):
    fresh = new_node()
    with pytest.raises(UnknownParentError):
        fresh.engine.import_built(chain.built[1])
    assert fresh.engine.import_built(chain.built[0]) == chain.built[0].request.payload.block_hash
    assert fresh.engine.head().block_number == 1
    state = fresh.engine.state_at(fresh.engine.head())
    assert fresh.engine.head().state_root == chain.built[0].request.payload.state_root
    assert state.get_balance(b"\x55" * 20) == 10**18  # block 1's withdrawal of 1e9 Gwei
