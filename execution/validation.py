"""Payload checks of the execution engine, each raising InvalidPayloadError for its field."""

from __future__ import annotations

from typing import Any, NoReturn

from eth.abc import BlockHeaderAPI
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.constants import MAX_BLOB_GAS_PER_BLOCK
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague

from execution.blobs import BLOB_TRANSACTION_TYPE
from execution.errors import InvalidPayloadError
from execution.payload import ExecutionPayload, NewPayload

GAS_LIMIT_BOUND_DIVISOR = 1024
MIN_GAS_LIMIT = 5000
MAX_EXTRA_DATA_BYTES = 32


def reject(
    payload: ExecutionPayload,
    field: str,
    message: str,
    expected: Any = None,
    actual: Any = None,
    **extra: Any,
) -> NoReturn:
    """Raise InvalidPayloadError for `field` of `payload`."""
    raise InvalidPayloadError(
        field,
        message,
        block_number=payload.block_number,
        block_hash=payload.block_hash,
        expected=expected,
        actual=actual,
        **extra,
    )


SET_CODE_TRANSACTION_TYPE = 0x04  # EIP-7702


def transaction_rule_violation(transaction: Any) -> str | None:
    """Return why a decoded transaction breaks a rule its type adds, or None.

    EIP-4844 blob transactions and EIP-7702 set-code transactions cannot create a
    contract, and a set-code transaction needs at least one authorization. py-evm checks
    these only in `validate()`, which block import does not call.
    """
    type_id = getattr(transaction, "type_id", None)
    if type_id not in (BLOB_TRANSACTION_TYPE, SET_CODE_TRANSACTION_TYPE):
        return None
    name = "blob" if type_id == BLOB_TRANSACTION_TYPE else "set code"
    if len(transaction.to) != 20:
        return f"{name} transaction of type create: it must have a 20-byte to address"
    if type_id == SET_CODE_TRANSACTION_TYPE and not transaction.authorization_list:
        return "set code transaction with an empty authorization list"
    return None


def check_transaction_rules(payload: ExecutionPayload, transactions: list[Any]) -> None:
    """Reject `payload` when one of its transactions breaks `transaction_rule_violation`."""
    for index, transaction in enumerate(transactions):
        problem = transaction_rule_violation(transaction)
        if problem is not None:
            reject(payload, "transactions", f"transaction {index} is invalid: {problem}")


def check_header_fields(request: NewPayload, parent: BlockHeaderAPI) -> None:
    """Check the payload fields that follow from its parent alone, before executing it."""
    payload = request.payload
    if payload.block_number != parent.block_number + 1:
        reject(
            payload,
            "block_number",
            "not parent number + 1",
            parent.block_number + 1,
            payload.block_number,
        )

    if payload.timestamp <= parent.timestamp:
        reject(
            payload,
            "timestamp",
            "not after the parent's timestamp",
            parent.timestamp + 1,
            payload.timestamp,
        )

    bound = parent.gas_limit // GAS_LIMIT_BOUND_DIVISOR
    if abs(payload.gas_limit - parent.gas_limit) >= bound or payload.gas_limit < MIN_GAS_LIMIT:
        reject(
            payload,
            "gas_limit",
            f"changes by {bound} or more from the parent's, or is below {MIN_GAS_LIMIT}",
            parent.gas_limit,
            payload.gas_limit,
        )

    if payload.gas_used > payload.gas_limit:
        reject(payload, "gas_used", "exceeds the gas limit", payload.gas_limit, payload.gas_used)

    if len(payload.extra_data) > MAX_EXTRA_DATA_BYTES:
        reject(
            payload,
            "extra_data",
            "longer than 32 bytes",
            MAX_EXTRA_DATA_BYTES,
            len(payload.extra_data),
        )

    expected_base_fee = calculate_expected_base_fee_per_gas(parent)
    if payload.base_fee_per_gas != expected_base_fee:
        reject(
            payload,
            "base_fee_per_gas",
            "differs from the EIP-1559 value",
            expected_base_fee,
            payload.base_fee_per_gas,
        )

    if payload.blob_gas_used > MAX_BLOB_GAS_PER_BLOCK:
        reject(
            payload,
            "blob_gas_used",
            "exceeds the Prague maximum of 9 blobs per block",
            MAX_BLOB_GAS_PER_BLOCK,
            payload.blob_gas_used,
        )

    expected_excess = calc_excess_blob_gas_prague(parent)
    if payload.excess_blob_gas != expected_excess:
        reject(
            payload,
            "excess_blob_gas",
            "differs from the EIP-4844 value",
            expected_excess,
            payload.excess_blob_gas,
        )

    if request.expected_withdrawals is not None and tuple(payload.withdrawals) != tuple(
        request.expected_withdrawals
    ):
        reject(
            payload,
            "withdrawals",
            "differ from the withdrawals the consensus state expects",
            list(request.expected_withdrawals),
            list(payload.withdrawals),
        )


def check_execution_results(
    request: NewPayload, computed: BlockHeaderAPI, requests: list[bytes]
) -> None:
    """Compare the header py-evm computed, and the requests it produced, with the payload."""
    payload = request.payload
    if computed.gas_used != payload.gas_used:
        reject(
            payload,
            "gas_used",
            "differs from the gas the transactions used",
            computed.gas_used,
            payload.gas_used,
        )

    if computed.blob_gas_used != payload.blob_gas_used:
        reject(
            payload,
            "blob_gas_used",
            "differs from the blob gas the transactions used",
            computed.blob_gas_used,
            payload.blob_gas_used,
        )

    if computed.receipt_root != payload.receipts_root:
        reject(
            payload,
            "receipts_root",
            "differs from the root of the computed receipts",
            computed.receipt_root,
            payload.receipts_root,
        )

    computed_bloom = computed.bloom.to_bytes(256, "big")
    if computed_bloom != payload.logs_bloom:
        reject(
            payload,
            "logs_bloom",
            "differs from the bloom of the computed logs",
            computed_bloom,
            payload.logs_bloom,
        )

    if tuple(requests) != tuple(request.execution_requests):
        reject(
            payload,
            "execution_requests",
            "differ from the requests the block produced",
            [r.hex() for r in requests],
            [r.hex() for r in request.execution_requests],
        )

    if computed.state_root != payload.state_root:
        reject(
            payload,
            "state_root",
            "differs from the computed post-state root",
            computed.state_root,
            payload.state_root,
        )
