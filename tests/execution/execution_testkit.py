"""Helpers that build real payload chains with the engine, for the execution tests."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from hashlib import sha256

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from execution.builder import BuiltPayload
from execution.engine import EmbeddedEngine
from execution.genesis import DEV_CHAIN_ID, dev_accounts, dev_genesis, system_contracts
from execution.node import ExecutionNode
from execution.payload import Withdrawal
from execution.txpool import TransactionPool

GENESIS_TIMESTAMP = 1_700_000_000
ACCOUNTS = dev_accounts()
RECIPIENT = to_checksum_address(b"\x42" * 20)
DEPOSIT_AMOUNT_GWEI = 32 * 10**9


def genesis():
    return dev_genesis(timestamp=GENESIS_TIMESTAMP)


def new_node(engine: EmbeddedEngine | None = None) -> ExecutionNode:
    engine = engine or EmbeddedEngine.in_memory(genesis())
    pool = TransactionPool(
        engine.chain_id,
        block_gas_limit=lambda: engine.head().gas_limit,
        max_per_sender=10_000,
        max_pool_size=100_000,
    )
    return ExecutionNode(engine, pool)


def sign(
    sender: int,
    nonce: int,
    *,
    to: str | None = RECIPIENT,
    value: int = 1,
    data: bytes = b"",
    gas: int = 21_000,
    max_fee: int = 10**10,
    tip: int = 10**9,
) -> bytes:
    fields = {
        "value": value,
        "gas": gas,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "nonce": nonce,
        "chainId": DEV_CHAIN_ID,
        "type": 2,
        "data": data,
    }
    if to is not None:
        fields["to"] = to
    return bytes(Account.sign_transaction(fields, ACCOUNTS[sender][1]).raw_transaction)


def add(node: ExecutionNode, raw: bytes) -> bytes:
    state = node.engine.state_at(node.engine.head())
    return node.pool.add(raw, lambda a: (state.get_nonce(a), state.get_balance(a)))


def _deposit_data_root(
    pubkey: bytes, credentials: bytes, amount_gwei: int, signature: bytes
) -> bytes:
    pubkey_root = sha256(pubkey + b"\x00" * 16).digest()
    signature_root = sha256(
        sha256(signature[:64]).digest() + sha256(signature[64:] + b"\x00" * 32).digest()
    ).digest()
    left = sha256(pubkey_root + credentials).digest()
    right = sha256(amount_gwei.to_bytes(8, "little") + b"\x00" * 24 + signature_root).digest()
    return sha256(left + right).digest()


def deposit_call(pubkey: bytes = b"\xaa" * 48) -> tuple[bytes, int]:
    """Return (calldata, value in Wei) of a 32 ETH deposit to the deposit contract."""
    credentials = b"\x01" + b"\x00" * 11 + b"\x42" * 20
    signature = b"\xbb" * 96
    root = _deposit_data_root(pubkey, credentials, DEPOSIT_AMOUNT_GWEI, signature)
    selector = keccak(text="deposit(bytes,bytes,bytes,bytes32)")[:4]
    args = encode(["bytes", "bytes", "bytes", "bytes32"], [pubkey, credentials, signature, root])
    return selector + args, DEPOSIT_AMOUNT_GWEI * 10**9


def withdrawal_request_call(pubkey: bytes = b"\xcc" * 48, amount_gwei: int = 0) -> bytes:
    """Return the 56-byte calldata of an EIP-7002 withdrawal request."""
    return pubkey + amount_gwei.to_bytes(8, "big")


@dataclass
class Chain:
    node: ExecutionNode
    built: list[BuiltPayload]


def build_chain(blocks: int = 4, transfers: int = 5, with_requests: bool = True) -> Chain:
    """Build and import `blocks` payloads with transfers, withdrawals, a deposit and a request."""
    node = new_node()
    nonces = [0] * len(ACCOUNTS)
    built = []
    for number in range(1, blocks + 1):
        for i in range(transfers):
            sender = i % 5
            add(node, sign(sender, nonces[sender], value=number * 100 + i))
            nonces[sender] += 1
        if with_requests and number == 2:
            data, value = deposit_call()
            deposit_address = to_checksum_address(system_contracts()["deposit_contract"][0])
            add(node, sign(9, nonces[9], to=deposit_address, value=value, data=data, gas=200_000))
            nonces[9] += 1
            request_address = to_checksum_address(system_contracts()["withdrawal_requests"][0])
            add(
                node,
                sign(
                    8,
                    nonces[8],
                    to=request_address,
                    value=10,
                    data=withdrawal_request_call(),
                    gas=200_000,
                ),
            )
            nonces[8] += 1
        withdrawals = (
            Withdrawal(index=number, validator_index=7, address=b"\x55" * 20, amount=10**9),
        )
        built.append(
            node.build_block(
                fee_recipient=b"\x11" * 20,
                prev_randao=number.to_bytes(32, "big"),
                parent_beacon_block_root=bytes([number]) * 32,
                withdrawals=withdrawals,
            )
        )
    return Chain(node, built)


def post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text else None


def rpc(url: str, method: str, *params: object) -> dict:
    return post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
