"""JSON views of blocks, transactions and receipts, in the eth JSON-RPC encoding."""

from __future__ import annotations

from typing import Any

import rlp
from eth._utils.address import generate_contract_address
from eth.abc import BlockHeaderAPI
from eth_utils import to_checksum_address

from execution.blobs import BLOB_TRANSACTION_TYPE, GAS_PER_BLOB, blob_base_fee
from execution.txpool import fee_field


def quantity(value: int) -> str:
    return hex(value)


def data(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def address(value: bytes) -> str:
    return to_checksum_address(value)


def transaction_json(
    transaction: Any, header: BlockHeaderAPI | None, index: int | None
) -> dict[str, Any]:
    type_id = transaction.type_id or 0
    view: dict[str, Any] = {
        "hash": data(transaction.hash),
        "type": quantity(type_id),
        "nonce": quantity(transaction.nonce),
        "from": address(transaction.sender),
        "to": address(transaction.to) if transaction.to else None,
        "value": quantity(transaction.value),
        "gas": quantity(transaction.gas),
        "input": data(transaction.data),
        "r": quantity(transaction.r),
        "s": quantity(transaction.s),
        "blockHash": data(header.hash) if header is not None else None,
        "blockNumber": quantity(header.block_number) if header is not None else None,
        "transactionIndex": quantity(index) if index is not None else None,
    }
    max_fee = fee_field(transaction, "max_fee_per_gas")
    if type_id >= 2:
        tip = fee_field(transaction, "max_priority_fee_per_gas")
        view["maxFeePerGas"] = quantity(max_fee)
        view["maxPriorityFeePerGas"] = quantity(tip)
        price = min(max_fee, header.base_fee_per_gas + tip) if header is not None else max_fee
        view["gasPrice"] = quantity(price)
    else:
        view["gasPrice"] = quantity(max_fee)
    if type_id >= 1:
        view["chainId"] = quantity(transaction.chain_id)
        view["yParity"] = quantity(transaction.y_parity)
        view["v"] = quantity(transaction.y_parity)
        view["accessList"] = [
            {
                "address": address(entry[0]),
                "storageKeys": [data(k.to_bytes(32, "big")) for k in entry[1]],
            }
            for entry in transaction.access_list
        ]
    else:
        view["v"] = quantity(transaction.v)
        if transaction.chain_id is not None:
            view["chainId"] = quantity(transaction.chain_id)
    if type_id == 3:  # EIP-4844 blob transaction
        view["maxFeePerBlobGas"] = quantity(transaction.max_fee_per_blob_gas)
        view["blobVersionedHashes"] = [data(h) for h in transaction.blob_versioned_hashes]
    return view


def receipt_json(
    receipt: Any,
    transaction: Any,
    header: BlockHeaderAPI,
    index: int,
    previous_gas: int,
    log_offset: int,
) -> dict[str, Any]:
    type_id = transaction.type_id or 0
    if type_id >= 2:
        tip = fee_field(transaction, "max_priority_fee_per_gas")
        effective_price = min(
            fee_field(transaction, "max_fee_per_gas"), header.base_fee_per_gas + tip
        )
    else:
        effective_price = fee_field(transaction, "max_fee_per_gas")
    contract_address = None
    if not transaction.to:
        contract_address = address(generate_contract_address(transaction.sender, transaction.nonce))
    common = {
        "transactionHash": data(transaction.hash),
        "transactionIndex": quantity(index),
        "blockHash": data(header.hash),
        "blockNumber": quantity(header.block_number),
    }
    logs = [
        {
            **common,
            "address": address(log.address),
            "topics": [
                data(t.to_bytes(32, "big") if isinstance(t, int) else t) for t in log.topics
            ],
            "data": data(log.data),
            "logIndex": quantity(log_offset + position),
            "removed": False,
        }
        for position, log in enumerate(receipt.logs)
    ]
    view = {
        **common,
        "from": address(transaction.sender),
        "to": address(transaction.to) if transaction.to else None,
        "cumulativeGasUsed": quantity(receipt.gas_used),
        "gasUsed": quantity(receipt.gas_used - previous_gas),
        "effectiveGasPrice": quantity(effective_price),
        "contractAddress": contract_address,
        "logs": logs,
        "logsBloom": data(receipt.bloom.to_bytes(256, "big")),
        "status": quantity(1 if receipt.state_root == b"\x01" else 0),
        "type": quantity(type_id),
    }
    if type_id == BLOB_TRANSACTION_TYPE:
        # EIP-4844: the blob gas this transaction paid for, at the block's blob base fee.
        view["blobGasUsed"] = quantity(GAS_PER_BLOB * len(transaction.blob_versioned_hashes))
        view["blobGasPrice"] = quantity(blob_base_fee(header.excess_blob_gas))
    return view


def block_json(
    header: BlockHeaderAPI, transactions: Any, withdrawals: Any, full: bool
) -> dict[str, Any]:
    view: dict[str, Any] = {
        "number": quantity(header.block_number),
        "hash": data(header.hash),
        "parentHash": data(header.parent_hash),
        "nonce": data(header.nonce),
        "mixHash": data(header.mix_hash),
        "sha3Uncles": data(header.uncles_hash),
        "logsBloom": data(header.bloom.to_bytes(256, "big")),
        "transactionsRoot": data(header.transaction_root),
        "stateRoot": data(header.state_root),
        "receiptsRoot": data(header.receipt_root),
        "miner": address(header.coinbase),
        "difficulty": quantity(header.difficulty),
        "totalDifficulty": quantity(0),
        "extraData": data(header.extra_data),
        "gasLimit": quantity(header.gas_limit),
        "gasUsed": quantity(header.gas_used),
        "timestamp": quantity(header.timestamp),
        "baseFeePerGas": quantity(header.base_fee_per_gas),
        "withdrawalsRoot": data(header.withdrawals_root),
        "blobGasUsed": quantity(header.blob_gas_used),
        "excessBlobGas": quantity(header.excess_blob_gas),
        "parentBeaconBlockRoot": data(header.parent_beacon_block_root),
        "requestsHash": data(header.requests_hash),
        "uncles": [],
        "withdrawals": [
            {
                "index": quantity(w.index),
                "validatorIndex": quantity(w.validator_index),
                "address": address(w.address),
                "amount": quantity(w.amount),
            }
            for w in withdrawals
        ],
    }
    if full:
        view["transactions"] = [transaction_json(t, header, i) for i, t in enumerate(transactions)]
    else:
        view["transactions"] = [data(t.hash) for t in transactions]
    body_size = len(rlp.encode(header)) + sum(len(t.encode()) for t in transactions)
    view["size"] = quantity(body_size)
    return view
