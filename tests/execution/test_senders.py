"""Sender recovery from raw transactions: the same senders py-evm recovers, inline or in workers."""

from eth_account import Account
from eth_utils import to_checksum_address
from execution_testkit import DEV_CHAIN_ID

from execution.genesis import dev_accounts
from execution.payload import decode_transactions
from execution.senders import SenderRecovery, assign_sender, recover_sender


def signed_transactions(count: int) -> list[bytes]:
    accounts = dev_accounts()
    raws = []
    for index in range(count):
        address, key = accounts[index % len(accounts)]
        fields = {
            "to": to_checksum_address((index + 1).to_bytes(20, "big")),
            "value": index,
            "gas": 21_000 + index,
            "nonce": index // len(accounts),
            "chainId": DEV_CHAIN_ID,
        }
        if index % 3 == 0:
            fields |= {"type": 1, "gasPrice": 10**9, "accessList": []}
        else:
            fields |= {"type": 2, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}
        raws.append(bytes(Account.sign_transaction(fields, key).raw_transaction))
    return raws


def test_recovered_senders_match_py_evm():
    raws = signed_transactions(12)
    for raw, transaction in zip(raws, decode_transactions(raws), strict=True):
        assert recover_sender(raw) == transaction.sender


def test_unhandled_transactions_are_left_to_py_evm():
    raw = signed_transactions(1)[0]
    legacy = bytes(
        Account.sign_transaction(
            {
                "to": to_checksum_address(b"\x11" * 20),
                "value": 1,
                "gas": 21_000,
                "gasPrice": 1,
                "nonce": 0,
                "chainId": DEV_CHAIN_ID,
            },
            dev_accounts()[0][1],
        ).raw_transaction
    )
    assert recover_sender(legacy) is None
    assert recover_sender(raw[:-1]) is None  # truncated
    assert recover_sender(b"") is None
    transaction = decode_transactions([raw])[0]
    assign_sender(transaction, None)
    assert "sender" not in transaction.__dict__


def test_worker_processes_give_the_same_senders():
    raws = signed_transactions(30)
    with SenderRecovery(raws, workers=2, parallel_threshold=10) as senders:
        assert senders.parallel
        recovered = [senders.get(index, raw) for index, raw in enumerate(raws)]
    assert recovered == [recover_sender(raw) for raw in raws]
