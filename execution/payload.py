"""Execution payloads in the engine's own types, and the block header built from one.

The consensus layer hands the engine a `NewPayloadRequest` SSZ container. The
engine works on the plain, immutable `ExecutionPayload` and `NewPayload`
dataclasses below, so it does not depend on an SSZ library. `from_ssz_request`
converts the consensus container, `payload_to_ssz` goes the other way for
payloads the engine built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from hashlib import sha256
from typing import Any

from eth.constants import EMPTY_UNCLE_HASH
from eth.db.trie import make_trie_root_and_nodes
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.shanghai.withdrawals import Withdrawal as EvmWithdrawal

from execution.errors import UnsupportedForkError

# EIP-7685 request types, in the order the requests hash commits to them.
DEPOSIT_REQUEST_TYPE = 0x00
WITHDRAWAL_REQUEST_TYPE = 0x01
CONSOLIDATION_REQUEST_TYPE = 0x02

POST_MERGE_NONCE = b"\x00" * 8
BLOB_TRANSACTION_TYPE = 0x03


@dataclass(frozen=True)
class Withdrawal:
    """A consensus-layer withdrawal credited to an execution address (amount in Gwei)."""

    index: int
    validator_index: int
    address: bytes
    amount: int

    def to_evm(self) -> EvmWithdrawal:
        return EvmWithdrawal(self.index, self.validator_index, self.address, self.amount)


@dataclass(frozen=True)
class ExecutionPayload:
    """The fields of a consensus `ExecutionPayload` (deneb and later layout).

    `transactions` are the raw, typed-envelope encodings the block carries;
    `logs_bloom` is 256 bytes; `base_fee_per_gas` is in Wei.
    """

    parent_hash: bytes
    fee_recipient: bytes
    state_root: bytes
    receipts_root: bytes
    logs_bloom: bytes
    prev_randao: bytes
    block_number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes
    base_fee_per_gas: int
    block_hash: bytes
    transactions: tuple[bytes, ...] = ()
    withdrawals: tuple[Withdrawal, ...] = ()
    blob_gas_used: int = 0
    excess_blob_gas: int = 0

    def replace(self, **changes: Any) -> ExecutionPayload:
        return replace(self, **changes)


@dataclass(frozen=True)
class NewPayload:
    """One payload to execute, with the consensus-layer data that comes with it.

    `execution_requests` is the EIP-7685 list of the beacon block body: each
    entry is a request type byte followed by the SSZ encoding of that type's
    request list, empty lists omitted. `expected_withdrawals`, when given, is
    the list the consensus state requires this block to withdraw, and the
    engine rejects a payload whose withdrawals differ.
    """

    payload: ExecutionPayload
    parent_beacon_block_root: bytes = b"\x00" * 32
    versioned_hashes: tuple[bytes, ...] = ()
    execution_requests: tuple[bytes, ...] = ()
    expected_withdrawals: tuple[Withdrawal, ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def compute_requests_hash(requests: Sequence[bytes]) -> bytes:
    """Compute the EIP-7685 commitment: sha256 over the sha256 of each non-empty request."""
    outer = sha256()
    for request in requests:
        if len(request) > 1:
            outer.update(sha256(request).digest())
    return outer.digest()


def decode_transactions(raw_transactions: Sequence[bytes]) -> list[Any]:
    """Decode typed-envelope transactions with py-evm's Prague transaction builder."""
    builder = PragueBlock.transaction_builder
    return [builder.decode(raw) for raw in raw_transactions]


def compute_transactions_root(transactions: Sequence[Any]) -> bytes:
    root, _ = make_trie_root_and_nodes(tuple(transactions))
    return root


def compute_withdrawals_root(withdrawals: Sequence[Withdrawal]) -> bytes:
    root, _ = make_trie_root_and_nodes(tuple(w.to_evm() for w in withdrawals))
    return root


def build_header(
    payload: ExecutionPayload,
    parent_beacon_block_root: bytes,
    requests_hash: bytes,
    transactions_root: bytes,
    withdrawals_root: bytes | None = None,
) -> PragueBlockHeader:
    """Build the Prague RLP header that the payload's `block_hash` commits to.

    `withdrawals_root` is computed from the payload when not given.
    """
    if withdrawals_root is None:
        withdrawals_root = compute_withdrawals_root(payload.withdrawals)
    return PragueBlockHeader(
        difficulty=0,
        block_number=payload.block_number,
        gas_limit=payload.gas_limit,
        timestamp=payload.timestamp,
        coinbase=payload.fee_recipient,
        parent_hash=payload.parent_hash,
        uncles_hash=EMPTY_UNCLE_HASH,
        state_root=payload.state_root,
        transaction_root=transactions_root,
        receipt_root=payload.receipts_root,
        bloom=int.from_bytes(payload.logs_bloom, "big"),
        gas_used=payload.gas_used,
        extra_data=payload.extra_data,
        mix_hash=payload.prev_randao,
        nonce=POST_MERGE_NONCE,
        base_fee_per_gas=payload.base_fee_per_gas,
        withdrawals_root=withdrawals_root,
        blob_gas_used=payload.blob_gas_used,
        excess_blob_gas=payload.excess_blob_gas,
        parent_beacon_block_root=parent_beacon_block_root,
        requests_hash=requests_hash,
    )


def payload_from_header(
    header: PragueBlockHeader,
    raw_transactions: Sequence[bytes],
    withdrawals: Sequence[Withdrawal],
) -> ExecutionPayload:
    """Build the payload of an executed block from its header and body."""
    return ExecutionPayload(
        parent_hash=header.parent_hash,
        fee_recipient=header.coinbase,
        state_root=header.state_root,
        receipts_root=header.receipt_root,
        logs_bloom=header.bloom.to_bytes(256, "big"),
        prev_randao=header.mix_hash,
        block_number=header.block_number,
        gas_limit=header.gas_limit,
        gas_used=header.gas_used,
        timestamp=header.timestamp,
        extra_data=header.extra_data,
        base_fee_per_gas=header.base_fee_per_gas,
        block_hash=header.hash,
        transactions=tuple(raw_transactions),
        withdrawals=tuple(withdrawals),
        blob_gas_used=header.blob_gas_used,
        excess_blob_gas=header.excess_blob_gas,
    )


def blob_versioned_hashes(transactions: Sequence[Any]) -> tuple[bytes, ...]:
    """Return the blob versioned hashes of `transactions` in block order (EIP-4844)."""
    hashes: list[bytes] = []
    for transaction in transactions:
        if transaction.type_id == BLOB_TRANSACTION_TYPE:
            hashes.extend(bytes(h) for h in transaction.blob_versioned_hashes)
    return tuple(hashes)


# --- conversion from and to the consensus SSZ containers ---


def payload_from_ssz(ssz_payload: Any) -> ExecutionPayload:
    """Convert a consensus `ExecutionPayload` SSZ view (bellatrix or later)."""
    withdrawals = tuple(
        Withdrawal(int(w.index), int(w.validator_index), bytes(w.address), int(w.amount))
        for w in getattr(ssz_payload, "withdrawals", ())
    )
    return ExecutionPayload(
        parent_hash=bytes(ssz_payload.parent_hash),
        fee_recipient=bytes(ssz_payload.fee_recipient),
        state_root=bytes(ssz_payload.state_root),
        receipts_root=bytes(ssz_payload.receipts_root),
        logs_bloom=bytes(ssz_payload.logs_bloom),
        prev_randao=bytes(ssz_payload.prev_randao),
        block_number=int(ssz_payload.block_number),
        gas_limit=int(ssz_payload.gas_limit),
        gas_used=int(ssz_payload.gas_used),
        timestamp=int(ssz_payload.timestamp),
        extra_data=bytes(ssz_payload.extra_data),
        base_fee_per_gas=int(ssz_payload.base_fee_per_gas),
        block_hash=bytes(ssz_payload.block_hash),
        transactions=tuple(bytes(tx) for tx in ssz_payload.transactions),
        withdrawals=withdrawals,
        blob_gas_used=int(getattr(ssz_payload, "blob_gas_used", 0)),
        excess_blob_gas=int(getattr(ssz_payload, "excess_blob_gas", 0)),
    )


def execution_requests_from_ssz(ssz_requests: Any) -> tuple[bytes, ...]:
    """Encode a consensus `ExecutionRequests` container as the EIP-7685 request list."""
    encoded: list[bytes] = []
    typed_lists = (
        (DEPOSIT_REQUEST_TYPE, ssz_requests.deposits),
        (WITHDRAWAL_REQUEST_TYPE, ssz_requests.withdrawals),
        (CONSOLIDATION_REQUEST_TYPE, ssz_requests.consolidations),
    )
    for request_type, requests in typed_lists:
        if len(requests) > 0:
            encoded.append(bytes([request_type]) + requests.encode_bytes())
    return tuple(encoded)


def from_ssz_request(request: Any) -> NewPayload:
    """Convert a consensus `NewPayloadRequest` SSZ container of electra or later.

    Raises UnsupportedForkError for earlier forks: their payloads follow
    execution rules before Prague, which the engine does not run.
    """
    if not hasattr(request, "execution_requests"):
        raise UnsupportedForkError(
            "the engine runs Prague execution rules; payloads before electra are not supported",
            block_number=int(request.execution_payload.block_number),
        )
    execution_requests = execution_requests_from_ssz(request.execution_requests)
    return NewPayload(
        payload=payload_from_ssz(request.execution_payload),
        parent_beacon_block_root=bytes(getattr(request, "parent_beacon_block_root", b"\x00" * 32)),
        versioned_hashes=tuple(bytes(h) for h in getattr(request, "versioned_hashes", ())),
        execution_requests=execution_requests,
    )


def payload_to_ssz(payload: ExecutionPayload, payload_class: Any) -> Any:
    """Build a consensus `ExecutionPayload` SSZ view of `payload_class` from `payload`."""
    fields: dict[str, Any] = {
        "parent_hash": payload.parent_hash,
        "fee_recipient": payload.fee_recipient,
        "state_root": payload.state_root,
        "receipts_root": payload.receipts_root,
        "logs_bloom": payload.logs_bloom,
        "prev_randao": payload.prev_randao,
        "block_number": payload.block_number,
        "gas_limit": payload.gas_limit,
        "gas_used": payload.gas_used,
        "timestamp": payload.timestamp,
        "extra_data": payload.extra_data,
        "base_fee_per_gas": payload.base_fee_per_gas,
        "block_hash": payload.block_hash,
        "transactions": list(payload.transactions),
    }
    field_names = set(payload_class.fields().keys())
    if "withdrawals" in field_names:
        withdrawal_class = payload_class.fields()["withdrawals"].element_cls()
        fields["withdrawals"] = [
            withdrawal_class(
                index=w.index, validator_index=w.validator_index, address=w.address, amount=w.amount
            )
            for w in payload.withdrawals
        ]
    if "blob_gas_used" in field_names:
        fields["blob_gas_used"] = payload.blob_gas_used
        fields["excess_blob_gas"] = payload.excess_blob_gas
    return payload_class(**fields)


def execution_requests_to_ssz(requests: Sequence[bytes], requests_class: Any) -> Any:
    """Decode an EIP-7685 request list into a consensus `ExecutionRequests` view.

    Raises ValueError on an unknown request type, types out of order, or bytes
    that are not a valid SSZ list of that type's requests.
    """
    field_by_type = {
        DEPOSIT_REQUEST_TYPE: "deposits",
        WITHDRAWAL_REQUEST_TYPE: "withdrawals",
        CONSOLIDATION_REQUEST_TYPE: "consolidations",
    }
    list_types = requests_class.fields()
    values: dict[str, Any] = {}
    previous_type = -1
    for request in requests:
        request_type = request[0]
        if request_type not in field_by_type or request_type <= previous_type:
            raise ValueError(f"request type {request_type} is unknown or out of order")
        previous_type = request_type
        name = field_by_type[request_type]
        values[name] = list_types[name].decode_bytes(request[1:])
    return requests_class(**values)
