"""Payload building for local block proposals.

The builder takes the pool's executable transactions, best tip first, and
keeps those whose gas limits and encodings fit the block. It executes them on
the parent state. A transaction that fails is dropped with that sender's later
ones, and the block runs again until it executes. The result is a complete
payload (state root, receipts root, bloom and block hash filled in) plus the
EIP-7685 requests the block produced.

Blob transactions count against `max_blobs` (the consensus config's blob
limit, at most Prague's 9) and wait while their max fee per blob gas is below
the block's blob base fee. The payload's versioned hashes and `blobs_bundle`
list their blobs in transaction order.

NOTE: transactions are packed by their gas limits, not the gas they use, so a
block never overflows but can stay below its gas limit. Each failing
transaction costs one more execution of the block; the pool's nonce and
balance checks make that rare.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth.vm.forks.prague.blocks import PragueBlock
from eth.vm.forks.prague.headers import calc_excess_blob_gas_prague
from eth_utils import ValidationError

from execution.blobs import MAX_BLOBS_PER_BLOCK, BlobsBundle, blob_base_fee
from execution.engine import EmbeddedEngine
from execution.errors import ExecutionError, UnknownParentError
from execution.payload import (
    NewPayload,
    Withdrawal,
    blob_versioned_hashes,
    build_header,
    compute_requests_hash,
    payload_from_header,
)
from execution.storage import Overlay
from execution.txpool import PooledTransaction, TransactionPool
from execution.validation import GAS_LIMIT_BOUND_DIVISOR

# Osaka (EIP-7934) caps an RLP-encoded block at 10 MiB; the builder keeps the
# transactions under 8 MiB so the header, withdrawals and encoding overhead fit.
DEFAULT_MAX_TRANSACTION_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class BuiltPayload:
    """A payload ready to propose, with the priority fees it pays the fee recipient (Wei).

    `block` and `state_changes` are the executed py-evm block and the database
    writes of its execution, so `EmbeddedEngine.import_built` can store the
    block without running it again.
    """

    request: NewPayload
    block_value: int
    transaction_hashes: tuple[bytes, ...]
    blobs_bundle: BlobsBundle = field(default_factory=BlobsBundle)
    block: Any = field(default=None, repr=False, compare=False)
    state_changes: dict[bytes, bytes | None] = field(
        default_factory=dict, repr=False, compare=False
    )


def next_gas_limit(parent_gas_limit: int, desired: int | None) -> int:
    """Step the gas limit toward `desired` by the most one block may change it."""
    if desired is None:
        return parent_gas_limit
    step = parent_gas_limit // GAS_LIMIT_BOUND_DIVISOR - 1
    if desired > parent_gas_limit:
        return min(desired, parent_gas_limit + step)
    return max(desired, parent_gas_limit - step)


def build_payload(
    engine: EmbeddedEngine,
    pool: TransactionPool | None,
    *,
    parent_hash: bytes,
    timestamp: int,
    fee_recipient: bytes,
    prev_randao: bytes,
    parent_beacon_block_root: bytes,
    withdrawals: Sequence[Withdrawal] = (),
    desired_gas_limit: int | None = None,
    extra_data: bytes = b"",
    max_transaction_bytes: int = DEFAULT_MAX_TRANSACTION_BYTES,
    max_blobs: int = MAX_BLOBS_PER_BLOCK,
) -> BuiltPayload:
    """Build a payload on `parent_hash` from `pool` (None builds an empty block).

    `max_blobs` is the consensus limit of blobs per block; Prague's 9 caps it.
    Raises UnknownParentError when the parent or its state is unknown.
    """
    try:
        parent = engine.header_by_hash(parent_hash)
    except HeaderNotFound:
        raise UnknownParentError("parent block is unknown", parent_hash=parent_hash) from None
    if not engine.has_state(parent_hash):
        raise UnknownParentError("parent state was pruned", parent_hash=parent_hash)
    gas_limit = next_gas_limit(parent.gas_limit, desired_gas_limit)
    base_fee = calculate_expected_base_fee_per_gas(parent)

    candidates: list[PooledTransaction] = []
    if pool is not None:
        parent_state = engine.state_at(parent)
        candidates = _fit(
            pool.pending(lambda a: parent_state.get_nonce(a), base_fee),
            gas_limit,
            max_transaction_bytes,
            min(max_blobs, MAX_BLOBS_PER_BLOCK),
            blob_base_fee(calc_excess_blob_gas_prague(parent)),
        )

    while True:
        attempt = _execute(
            engine,
            parent,
            candidates,
            timestamp=timestamp,
            gas_limit=gas_limit,
            fee_recipient=fee_recipient,
            prev_randao=prev_randao,
            parent_beacon_block_root=parent_beacon_block_root,
            withdrawals=withdrawals,
            extra_data=extra_data,
        )
        if isinstance(attempt, BuiltPayload):
            return attempt
        failed = candidates[attempt]
        candidates = [
            c
            for i, c in enumerate(candidates)
            if i < attempt or (c.sender != failed.sender and i != attempt)
        ]


def _fit(
    candidates: list[PooledTransaction],
    gas_limit: int,
    max_bytes: int,
    max_blobs: int = MAX_BLOBS_PER_BLOCK,
    blob_fee: int = 1,
) -> list[PooledTransaction]:
    """Keep candidates while their gas, sizes and blobs fit; skip a sender after a misfit.

    A blob transaction whose max fee per blob gas is below `blob_fee` is a
    misfit too: its sender's later nonces wait with it.
    """
    chosen: list[PooledTransaction] = []
    skipped: set[bytes] = set()
    gas = 0
    size = 0
    blobs = 0
    for candidate in candidates:
        if candidate.sender in skipped:
            continue
        tx_gas = candidate.transaction.gas
        tx_blobs = candidate.blob_count
        if (
            gas + tx_gas > gas_limit
            or size + len(candidate.raw) > max_bytes
            or blobs + tx_blobs > max_blobs
            or (tx_blobs and candidate.max_fee_per_blob_gas < blob_fee)
        ):
            skipped.add(candidate.sender)
            continue
        chosen.append(candidate)
        gas += tx_gas
        size += len(candidate.raw)
        blobs += tx_blobs
    return chosen


def _execute(
    engine: EmbeddedEngine,
    parent: object,
    candidates: list[PooledTransaction],
    *,
    timestamp: int,
    gas_limit: int,
    fee_recipient: bytes,
    prev_randao: bytes,
    parent_beacon_block_root: bytes,
    withdrawals: Sequence[Withdrawal],
    extra_data: bytes,
) -> BuiltPayload | int:
    """Execute the candidates on a throwaway overlay; return the payload or the failing index."""
    overlay = Overlay(engine.backend)
    db = AtomicDB(overlay)
    header = engine.vm_class.create_header_from_parent(
        parent,
        timestamp=timestamp,
        gas_limit=gas_limit,
        coinbase=fee_recipient,
        mix_hash=prev_randao,
        extra_data=extra_data,
        parent_beacon_block_root=parent_beacon_block_root,
    )
    transactions = [c.transaction for c in candidates]
    block = PragueBlock(
        header=header,
        transactions=transactions,
        uncles=[],
        withdrawals=[w.to_evm() for w in withdrawals],
    )
    vm = engine.build_vm(db, header)
    try:
        result = vm.import_block(block)
    except ValidationError:
        return vm.transactions_applied

    executed = result.block.header
    requests = tuple(vm.execution_requests)
    payload = payload_from_header(executed, [c.raw for c in candidates], withdrawals)
    rebuilt = build_header(
        payload,
        parent_beacon_block_root,
        compute_requests_hash(requests),
        executed.transaction_root,
        withdrawals_root=executed.withdrawals_root,
    )
    if rebuilt.hash != executed.hash:
        raise ExecutionError(
            "built header does not round-trip through the payload",
            built=executed.hash,
            rebuilt=rebuilt.hash,
        )

    receipts = result.block.get_receipts(ChainDB(db))
    block_value = 0
    previous_gas = 0
    for candidate, receipt in zip(candidates, receipts, strict=True):
        gas_used = receipt.gas_used - previous_gas
        previous_gas = receipt.gas_used
        block_value += gas_used * candidate.effective_tip(executed.base_fee_per_gas)

    request = NewPayload(
        payload=payload,
        parent_beacon_block_root=parent_beacon_block_root,
        versioned_hashes=blob_versioned_hashes(transactions),
        execution_requests=requests,
    )
    return BuiltPayload(
        request,
        block_value,
        tuple(c.hash for c in candidates),
        blobs_bundle=BlobsBundle.of([c.sidecar for c in candidates if c.sidecar is not None]),
        block=result.block,
        state_changes=overlay.pending,
    )
