"""A transaction pool for local block building.

A transaction is admitted when it decodes, carries this chain's id (EIP-155
replay protection is required) and is at most `max_transaction_bytes`. Its gas
must cover the intrinsic gas and fit the block gas limit, and its max fee must
be at least `min_fee`. Its nonce must not be below the sender's account nonce,
the balance must cover gas * max fee + value, and the pool and per-sender size
limits apply. A transaction
with the nonce of one already pooled replaces it only when it raises both
the max fee and the priority fee by `price_bump_percent` (geth's rule and
default, 10%), and for a blob transaction replacing another also the max fee
per blob gas.

Blob transactions (type 3) are taken in their network form, with the blobs,
commitments and proofs, which are checked against the versioned hashes
(`execution.blobs`). The pool keeps the sidecar next to the canonical
transaction, so the builder can return the blobs with the payload. A blob
transaction without its sidecar is rejected, as is one with more blobs than
`max_blobs_per_transaction` (default: Prague's 9 per block). Its balance
check includes the blob gas at its max fee per blob gas.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from eth.vm.forks.prague.blocks import PragueBlock

from execution.blobs import (
    BLOB_TRANSACTION_TYPE,
    GAS_PER_BLOB,
    MAX_BLOBS_PER_BLOCK,
    MIN_BLOB_BASE_FEE,
    BlobSidecar,
    BlobSidecarError,
    is_network_form,
    split_network_form,
    with_cell_proofs,
)
from execution.errors import TransactionPoolError
from execution.validation import transaction_rule_violation

# JSON-RPC error codes clients recognise for transaction rejections (geth's).
ERROR_INVALID_INPUT = -32602
ERROR_REJECTED = -32000
ERROR_UNSUPPORTED = -32601

DEFAULT_MAX_TRANSACTION_BYTES = 128 * 1024  # geth's txMaxSize
DEFAULT_MAX_POOL_SIZE = 4096
DEFAULT_MAX_PER_SENDER = 64
DEFAULT_PRICE_BUMP_PERCENT = 10
MAX_NONCE = 2**64 - 1  # EIP-2681: the first nonce a transaction may not carry
# EIP-2718 type bytes that Prague accepts: access list, dynamic fee, blob, set code.
# Legacy transactions are RLP lists, whose first byte is 0xc0 or above.
SUPPORTED_TRANSACTION_TYPES = (0x01, 0x02, 0x03, 0x04)


@dataclass(frozen=True)
class PooledTransaction:
    """A validated transaction with its decoded form and raw encoding."""

    transaction: Any
    raw: bytes  # the canonical encoding, as the block carries it
    sender: bytes
    nonce: int
    hash: bytes
    sidecar: BlobSidecar | None = None

    @property
    def is_blob(self) -> bool:
        return getattr(self.transaction, "type_id", None) == BLOB_TRANSACTION_TYPE

    @property
    def blob_count(self) -> int:
        return len(self.transaction.blob_versioned_hashes) if self.is_blob else 0

    @property
    def max_fee_per_blob_gas(self) -> int:
        return int(self.transaction.max_fee_per_blob_gas) if self.is_blob else 0

    @property
    def max_fee(self) -> int:
        return fee_field(self.transaction, "max_fee_per_gas")

    @property
    def max_priority_fee(self) -> int:
        return fee_field(self.transaction, "max_priority_fee_per_gas")

    def effective_tip(self, base_fee: int) -> int:
        return min(self.max_priority_fee, self.max_fee - base_fee)


def fee_field(transaction: Any, name: str) -> int:
    """Return `max_fee_per_gas` or `max_priority_fee_per_gas` of any transaction type (Wei).

    Legacy and access-list transactions have one gas price that serves as both.
    """
    try:
        return int(getattr(transaction, name))
    except AttributeError:
        return int(transaction.gas_price)


AccountReader = Callable[[bytes], tuple[int, int]]
"""Return (nonce, balance in Wei) of an address in the current head state."""


class TransactionPool:
    """Pending transactions by sender and nonce; thread-safe."""

    def __init__(
        self,
        chain_id: int,
        *,
        block_gas_limit: Callable[[], int],
        max_transaction_bytes: int = DEFAULT_MAX_TRANSACTION_BYTES,
        max_pool_size: int = DEFAULT_MAX_POOL_SIZE,
        max_per_sender: int = DEFAULT_MAX_PER_SENDER,
        price_bump_percent: int = DEFAULT_PRICE_BUMP_PERCENT,
        min_fee: int = 0,
        max_blobs_per_transaction: int = MAX_BLOBS_PER_BLOCK,
        cell_proofs: bool = False,
    ) -> None:
        self.chain_id = chain_id
        # Compute the cell proofs of blob transactions sent with one proof per blob, so a
        # fulu proposer has them at hand instead of computing them in its slot.
        self.cell_proofs = cell_proofs
        self.block_gas_limit = block_gas_limit
        self.max_transaction_bytes = max_transaction_bytes
        self.max_pool_size = max_pool_size
        self.max_per_sender = max_per_sender
        self.price_bump_percent = price_bump_percent
        self.min_fee = min_fee
        self.max_blobs_per_transaction = max_blobs_per_transaction
        self._by_sender: dict[bytes, dict[int, PooledTransaction]] = {}
        self._by_hash: dict[bytes, PooledTransaction] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> PooledTransaction | None:
        return self._by_hash.get(tx_hash)

    def add(self, raw: bytes, read_account: AccountReader) -> bytes:
        """Validate and pool a raw transaction; return its hash. Raises TransactionPoolError."""
        pooled = self._decode(raw)
        self._check_static(pooled)
        nonce, balance = read_account(pooled.sender)
        if pooled.nonce < nonce:
            raise TransactionPoolError(
                "nonce too low", ERROR_REJECTED, next_nonce=nonce, nonce=pooled.nonce
            )
        cost = pooled.transaction.gas * pooled.max_fee + pooled.transaction.value
        cost += pooled.blob_count * GAS_PER_BLOB * pooled.max_fee_per_blob_gas
        if balance < cost:
            raise TransactionPoolError(
                "insufficient funds for gas * price + value",
                ERROR_REJECTED,
                balance=balance,
                cost=cost,
            )
        if self.cell_proofs and pooled.sidecar is not None and not pooled.sidecar.cell_proofs:
            # The costliest step comes last, once every cheaper check has passed.
            with self._lock:
                known = pooled.hash in self._by_hash
            if known:
                raise TransactionPoolError("already known", ERROR_REJECTED)
            try:
                pooled = replace(pooled, sidecar=with_cell_proofs(pooled.sidecar))
            except BlobSidecarError as error:
                raise TransactionPoolError(
                    f"invalid blob transaction: {error}", ERROR_INVALID_INPUT
                ) from None
        with self._lock:
            self._insert(pooled)
        return pooled.hash

    def _decode(self, raw: bytes) -> PooledTransaction:
        sidecar = None
        if is_network_form(raw):
            try:
                raw, sidecar = split_network_form(raw)
            except BlobSidecarError as error:
                raise TransactionPoolError(
                    f"invalid blob transaction: {error}", ERROR_INVALID_INPUT
                ) from None
        elif raw[:1] == bytes([BLOB_TRANSACTION_TYPE]):
            raise TransactionPoolError(
                "blob transaction without its blobs; send it in network form with the sidecar",
                ERROR_REJECTED,
            )
        if len(raw) > self.max_transaction_bytes:
            raise TransactionPoolError(
                "oversized transaction",
                ERROR_REJECTED,
                size=len(raw),
                limit=self.max_transaction_bytes,
            )
        if not raw:
            raise TransactionPoolError("invalid transaction: empty data", ERROR_INVALID_INPUT)
        if raw[0] < 0xC0 and raw[0] not in SUPPORTED_TRANSACTION_TYPES:
            raise TransactionPoolError(
                f"invalid transaction: unsupported transaction type 0x{raw[0]:02x}",
                ERROR_INVALID_INPUT,
                supported=",".join(f"0x{kind:02x}" for kind in SUPPORTED_TRANSACTION_TYPES),
            )
        try:
            transaction = PragueBlock.transaction_builder.decode(raw)
            transaction.check_signature_validity()
            sender = transaction.sender
        except Exception as error:  # rlp, eth-keys and py-evm raise many types on bad input
            raise TransactionPoolError(
                f"invalid transaction: {error}", ERROR_INVALID_INPUT
            ) from None
        return PooledTransaction(
            transaction,
            raw,
            bytes(sender),
            int(transaction.nonce),
            bytes(transaction.hash),
            sidecar,
        )

    def _check_static(self, pooled: PooledTransaction) -> None:
        transaction = pooled.transaction
        if pooled.blob_count > self.max_blobs_per_transaction:
            raise TransactionPoolError(
                "too many blobs",
                ERROR_REJECTED,
                blobs=pooled.blob_count,
                limit=self.max_blobs_per_transaction,
            )
        problem = transaction_rule_violation(transaction)
        if problem is not None:
            raise TransactionPoolError(problem, ERROR_INVALID_INPUT)
        if pooled.blob_count and pooled.max_fee_per_blob_gas < MIN_BLOB_BASE_FEE:
            raise TransactionPoolError(
                "max fee per blob gas below the minimum blob base fee",
                ERROR_REJECTED,
                max_fee_per_blob_gas=pooled.max_fee_per_blob_gas,
                minimum=MIN_BLOB_BASE_FEE,
            )
        if pooled.nonce >= MAX_NONCE:
            # EIP-2681: a nonce of 2**64 - 1 could never be raised again, so no block takes it.
            raise TransactionPoolError("nonce has max value", ERROR_REJECTED, nonce=pooled.nonce)
        chain_id = getattr(transaction, "chain_id", None)
        if chain_id is None:
            raise TransactionPoolError(
                "only replay-protected (EIP-155) transactions allowed", ERROR_REJECTED
            )
        if chain_id != self.chain_id:
            raise TransactionPoolError(
                "invalid chain id", ERROR_REJECTED, expected=self.chain_id, actual=chain_id
            )
        if transaction.gas < transaction.intrinsic_gas:
            raise TransactionPoolError(
                "intrinsic gas too low",
                ERROR_REJECTED,
                gas=transaction.gas,
                intrinsic=transaction.intrinsic_gas,
            )
        gas_limit = self.block_gas_limit()
        if transaction.gas > gas_limit:
            raise TransactionPoolError(
                "exceeds block gas limit", ERROR_REJECTED, gas=transaction.gas, limit=gas_limit
            )
        if pooled.max_priority_fee > pooled.max_fee:
            raise TransactionPoolError(
                "max priority fee per gas higher than max fee per gas", ERROR_REJECTED
            )
        if pooled.max_fee < self.min_fee:
            raise TransactionPoolError(
                "transaction underpriced", ERROR_REJECTED, min_fee=self.min_fee
            )

    def _insert(self, pooled: PooledTransaction) -> None:
        if pooled.hash in self._by_hash:
            raise TransactionPoolError("already known", ERROR_REJECTED)
        queue = self._by_sender.setdefault(pooled.sender, {})
        existing = queue.get(pooled.nonce)
        if existing is not None:
            bump = 100 + self.price_bump_percent
            if (
                pooled.max_fee * 100 < existing.max_fee * bump
                or pooled.max_priority_fee * 100 < existing.max_priority_fee * bump
                or pooled.max_fee_per_blob_gas * 100 < existing.max_fee_per_blob_gas * bump
            ):
                raise TransactionPoolError("replacement transaction underpriced", ERROR_REJECTED)
            del self._by_hash[existing.hash]
        elif len(queue) >= self.max_per_sender:
            raise TransactionPoolError("sender has too many pending transactions", ERROR_REJECTED)
        elif len(self._by_hash) >= self.max_pool_size:
            raise TransactionPoolError("transaction pool is full", ERROR_REJECTED)
        queue[pooled.nonce] = pooled
        self._by_hash[pooled.hash] = pooled

    def pending(self, read_nonce: Callable[[bytes], int], base_fee: int) -> list[PooledTransaction]:
        """Return executable transactions, best effective tip first, nonces in order per sender.

        A sender's transactions start at its account nonce and stop at the
        first gap; transactions whose max fee is below `base_fee` wait.
        """
        with self._lock:
            runs: dict[bytes, list[PooledTransaction]] = {}
            for sender, queue in self._by_sender.items():
                nonce = read_nonce(sender)
                run = []
                while nonce in queue and queue[nonce].max_fee >= base_fee:
                    run.append(queue[nonce])
                    nonce += 1
                if run:
                    runs[sender] = run
        heap = [
            (-run[0].effective_tip(base_fee), run[0].hash, sender, 0)
            for sender, run in runs.items()
        ]
        heapq.heapify(heap)
        ordered: list[PooledTransaction] = []
        while heap:
            _, _, sender, position = heapq.heappop(heap)
            run = runs[sender]
            ordered.append(run[position])
            if position + 1 < len(run):
                following = run[position + 1]
                heapq.heappush(
                    heap, (-following.effective_tip(base_fee), following.hash, sender, position + 1)
                )
        return ordered

    def next_nonce(self, sender: bytes, account_nonce: int) -> int:
        """Return the nonce after `sender`'s pooled run that starts at `account_nonce`."""
        with self._lock:
            queue = self._by_sender.get(sender, {})
            nonce = account_nonce
            while nonce in queue:
                nonce += 1
        return nonce

    def remove_stale(self, read_nonce: Callable[[bytes], int]) -> None:
        """Drop transactions whose nonce is below their sender's account nonce (included ones)."""
        with self._lock:
            for sender in list(self._by_sender):
                queue = self._by_sender[sender]
                nonce = read_nonce(sender)
                for stale in [n for n in queue if n < nonce]:
                    del self._by_hash[queue.pop(stale).hash]
                if not queue:
                    del self._by_sender[sender]

    def discard(self, tx_hash: bytes) -> None:
        with self._lock:
            pooled = self._by_hash.pop(tx_hash, None)
            if pooled is not None:
                self._by_sender[pooled.sender].pop(pooled.nonce, None)
