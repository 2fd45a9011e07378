"""The embedded execution engine: batched payload execution on py-evm.

`EmbeddedEngine.execute_batch` runs payloads one after another, each on top
of its parent. The parent may be any block whose state is retained, so forks
execute without a reorg first. Every field a payload commits to is checked,
and the whole batch is written to the database in one transaction. A bad
payload stops the batch: the blocks before it are committed, it and everything
after it are not, and `InvalidPayloadError` names the failing field with the
expected and actual values.

All execution follows Prague rules (see `execution.vm`): py-evm has no Osaka
yet, so a fulu chain runs Prague execution until it does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth.abc import BlockHeaderAPI
from eth.chains.base import ChainContext
from eth.consensus.context import ConsensusContext
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3, GENESIS_PARENT_HASH
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound
from eth.vm.forks.prague.blocks import PragueBlock
from eth_utils import ValidationError

from execution.errors import (
    ExecutionError,
    ExecutionStorageError,
    InvalidPayloadError,
    UnknownParentError,
)
from execution.genesis import Genesis, dev_genesis, write_genesis
from execution.payload import (
    ExecutionPayload,
    NewPayload,
    blob_versioned_hashes,
    build_header,
    compute_requests_hash,
    decode_transactions,
    from_ssz_request,
    payload_from_header,
)
from execution.pruning import Marker, sweep
from execution.senders import SenderRecovery, assign_sender
from execution.storage import KVBackend, LMDBBackend, MemoryBackend, Overlay
from execution.trie import ordered_trie_root
from execution.validation import (
    check_execution_results,
    check_header_fields,
    check_transaction_rules,
    reject,
)
from execution.vm import CachingAtomicDB, CaplinPragueVM, StateTrieCache, vm_class_for

logger = logging.getLogger("caplin.execution")

_META = b"caplin-exec:"
META_GENESIS_HASH = _META + b"genesis-hash"
META_CHAIN_ID = _META + b"chain-id"
META_DEPOSIT_CONTRACT = _META + b"deposit-contract"
META_FINALIZED_HASH = _META + b"finalized-hash"
META_PRUNED_BELOW = _META + b"state-pruned-below"
# Index of every stored block: prefix + number (8 bytes, big-endian) + hash -> b"".
BLOCK_INDEX_PREFIX = _META + b"block:"

MODE_ARCHIVE = "archive"
MODE_FULL = "full"
# States kept below the finalized block in full mode (about 25 minutes of 12 s slots).
DEFAULT_RETAINED_STATES = 128
# Finalizations between garbage collections; each one reads every kept trie node.
DEFAULT_GC_INTERVAL = 32


@dataclass(frozen=True)
class BatchResult:
    """Block hashes a batch committed, in order, and the head afterwards."""

    executed: tuple[bytes, ...]
    head_hash: bytes


def check_known_payload(request: NewPayload) -> None:
    """Check that an already executed payload's fields hash to its block hash.

    A request can name a stored block hash with other field values, so they
    are checked before the stored verdict is reused. The header rebuilt from
    the request must hash to `block_hash`, and the versioned hashes must be
    the transactions' ones, because the header does not commit to them.
    Raises InvalidPayloadError.
    """
    payload = request.payload
    try:
        transactions = decode_transactions(payload.transactions)
    except Exception as error:  # rlp and py-evm raise many types on malformed input
        reject(payload, "transactions", f"cannot decode a transaction: {error}")
    header = build_header(
        payload,
        request.parent_beacon_block_root,
        compute_requests_hash(request.execution_requests),
        ordered_trie_root(payload.transactions)[0],
        withdrawals_root=ordered_trie_root(w.to_evm().encode() for w in payload.withdrawals)[0],
    )
    if header.hash != payload.block_hash:
        reject(
            payload,
            "block_hash",
            "block hash differs from the hash of the header built from the payload",
            header.hash,
            payload.block_hash,
        )
    versioned_hashes = blob_versioned_hashes(transactions)
    if versioned_hashes != tuple(request.versioned_hashes):
        reject(
            payload,
            "versioned_hashes",
            "blob versioned hashes differ from the transactions' hashes",
            list(versioned_hashes),
            list(request.versioned_hashes),
        )


def _block_index_key(number: int, block_hash: bytes) -> bytes:
    return BLOCK_INDEX_PREFIX + number.to_bytes(8, "big") + block_hash


class EmbeddedEngine:
    """An execution client inside the beacon node, on a `KVBackend`.

    `mode` is `full` or `archive`. In full mode, states older than
    `retained_states` blocks below the finalized block are no longer served or
    executed on, and every `gc_interval` finalizations `collect_garbage`
    deletes their data. Archive mode keeps every state.

    A fresh backend is initialised from `genesis` (default: the dev genesis).
    An existing one must contain the same genesis.
    """

    def __init__(
        self,
        backend: KVBackend,
        genesis: Genesis | None = None,
        *,
        mode: str = MODE_FULL,
        retained_states: int = DEFAULT_RETAINED_STATES,
        gc_interval: int = DEFAULT_GC_INTERVAL,
    ) -> None:
        if mode not in (MODE_FULL, MODE_ARCHIVE):
            raise ValueError(f"unknown execution mode {mode!r}; use 'full' or 'archive'")
        self.backend = backend
        self.mode = mode
        self.retained_states = retained_states
        self.gc_interval = gc_interval
        self._finalizations_since_gc = 0
        self._lock = threading.RLock()
        self._open(genesis)

    @classmethod
    def in_memory(cls, genesis: Genesis | None = None, **options: Any) -> EmbeddedEngine:
        return cls(MemoryBackend(), genesis, **options)

    @classmethod
    def open_lmdb(
        cls, path: str, genesis: Genesis | None = None, *, sync: bool = True, **options: Any
    ) -> EmbeddedEngine:
        return cls(LMDBBackend(path, sync=sync), genesis, **options)

    def close(self) -> None:
        self.backend.close()

    # --- setup ---

    def _open(self, genesis: Genesis | None) -> None:
        stored_hash = self.backend.get_raw(META_GENESIS_HASH)
        if stored_hash is None:
            genesis = genesis or dev_genesis()
            overlay = Overlay(self.backend)
            header = write_genesis(genesis, overlay)
            overlay[META_GENESIS_HASH] = header.hash
            overlay[META_CHAIN_ID] = genesis.chain_id.to_bytes(8, "big")
            overlay[META_DEPOSIT_CONTRACT] = genesis.deposit_contract_address
            overlay[META_FINALIZED_HASH] = header.hash
            overlay[_block_index_key(0, header.hash)] = b""
            overlay.commit_to_backend()
            stored_hash = header.hash
            logger.info("execution genesis written hash=0x%s", header.hash.hex())
        elif genesis is not None:
            reader = Overlay(self.backend)
            expected_header = write_genesis(genesis, reader)
            if expected_header.hash != stored_hash:
                raise ExecutionStorageError(
                    "database contains another chain's genesis; use another data directory",
                    stored=stored_hash,
                    requested=expected_header.hash,
                )
        self.genesis_hash = stored_hash
        self.chain_id = int.from_bytes(self.backend.get_raw(META_CHAIN_ID) or b"", "big")
        deposit_contract = self.backend.get_raw(META_DEPOSIT_CONTRACT) or b""
        self.vm_class: type[CaplinPragueVM] = vm_class_for(deposit_contract)
        self.chain_context = ChainContext(self.chain_id)

    # --- reading ---

    def reader(self) -> ChainDB:
        """Return a ChainDB over a throwaway overlay: reads see the last commit."""
        return ChainDB(AtomicDB(Overlay(self.backend)))

    def head(self) -> BlockHeaderAPI:
        return self.reader().get_canonical_head()

    def genesis_payload(self) -> ExecutionPayload:
        """Return the genesis block as a payload, for the consensus genesis state's header."""
        header = self.header_by_hash(self.genesis_hash)
        return payload_from_header(header, [], [])

    def finalized_hash(self) -> bytes:
        return self.backend.get_raw(META_FINALIZED_HASH) or self.genesis_hash

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI:
        """Return the header of `block_hash`; raises HeaderNotFound."""
        return self.reader().get_block_header_by_hash(block_hash)

    def has_state(self, block_hash: bytes) -> bool:
        """Return True when the post-state of `block_hash` can be read and built on."""
        try:
            header = self.header_by_hash(block_hash)
        except HeaderNotFound:
            return False
        pruned_below = int.from_bytes(self.backend.get_raw(META_PRUNED_BELOW) or b"", "big")
        if header.block_number < pruned_below:
            return False
        return self.backend.get_raw(header.state_root) is not None

    def build_vm(
        self, db: AtomicDB, header: BlockHeaderAPI, vm_class: type[CaplinPragueVM] | None = None
    ) -> CaplinPragueVM:
        """Build a VM whose pending block is `header` (its parent's state is the pre-state).

        `vm_class` replaces the engine's VM class, such as a `timed_vm_class` of it.
        """
        return (vm_class or self.vm_class)(
            header=header,
            chaindb=ChainDB(db),
            chain_context=self.chain_context,
            consensus_context=ConsensusContext(db),
        )

    def state_at(self, header: BlockHeaderAPI) -> Any:
        """Return a read-only py-evm state after block `header`."""
        db = AtomicDB(Overlay(self.backend))
        vm = self.build_vm(db, header)
        return vm.build_state(db, header, self.chain_context)

    # --- execution ---

    def execute_batch(
        self, requests: Sequence[NewPayload | Any], *, set_head: bool = True
    ) -> BatchResult:
        """Execute `requests` in order and commit them in one database write.

        Each request is a `NewPayload` or a consensus `NewPayloadRequest` SSZ
        container. With `set_head`, the last executed block becomes the
        canonical head (also when a later one failed); otherwise the head is
        left where it was. Raises InvalidPayloadError or UnknownParentError
        (any other error from py-evm passes through too); the error's
        `.committed` lists the hashes written before it. Raises
        UnsupportedForkError before executing anything when a request is
        from a fork before electra.
        """
        payloads = [r if isinstance(r, NewPayload) else from_ssz_request(r) for r in requests]
        raw_transactions = [raw for p in payloads for raw in p.payload.transactions]
        with self._lock, SenderRecovery(raw_transactions) as senders:
            batch = Overlay(self.backend)
            previous_head = ChainDB(AtomicDB(batch)).get_canonical_head().hash
            executed: list[bytes] = []
            failure: Exception | None = None
            # Shared by the blocks of this batch only: its nodes are stored by the batch.
            trie_cache = StateTrieCache()
            first_transaction = 0
            for new_payload in payloads:
                offset = first_transaction
                first_transaction += len(new_payload.payload.transactions)
                if self._is_executed(batch, new_payload.payload.block_hash):
                    try:
                        check_known_payload(new_payload)
                    except InvalidPayloadError as error:
                        failure = error
                        break
                    executed.append(new_payload.payload.block_hash)
                    continue
                layer = Overlay(batch)
                try:
                    block_hash = self._execute_one(layer, new_payload, trie_cache, senders, offset)
                except Exception as error:  # the blocks before it are still committed below
                    failure = error
                    break
                layer.merge_into_parent()
                executed.append(block_hash)

            head_hash = executed[-1] if (set_head and executed) else previous_head
            self._set_canonical_head(batch, head_hash)
            batch.commit_to_backend()
            if executed:
                logger.debug(
                    "execution batch committed blocks=%d head=0x%s", len(executed), head_hash.hex()
                )
            if failure is not None:
                failure.committed = tuple(executed)  # type: ignore[attr-defined]
                raise failure
            return BatchResult(tuple(executed), head_hash)

    @staticmethod
    def _is_executed(overlay: Overlay, block_hash: bytes) -> bool:
        """Return True when `block_hash` is stored with its post-state (a re-sent payload)."""
        if overlay.get_raw(block_hash) is None:
            return False
        header = ChainDB(AtomicDB(overlay)).get_block_header_by_hash(block_hash)
        return overlay.get_raw(header.state_root) is not None

    def execute_payload(self, request: NewPayload | Any, *, set_head: bool = True) -> bytes:
        """Execute one payload (a batch of one); return its block hash."""
        return self.execute_batch([request], set_head=set_head).executed[0]

    def import_built(self, built: Any, *, set_head: bool = True) -> bytes:
        """Store a payload this engine built (a `BuiltPayload`) without executing it again.

        The builder's writes are content-addressed trie nodes and code, valid
        on any later database state, so they are merged as they are. Raises
        UnknownParentError when the parent is no longer stored with its state.
        """
        payload = built.request.payload
        with self._lock:
            batch = Overlay(self.backend)
            if not self._is_executed(batch, payload.parent_hash):
                raise UnknownParentError(
                    "parent block or its state is missing", parent_hash=payload.parent_hash
                )
            if not self._is_executed(batch, payload.block_hash):
                batch.pending.update(built.state_changes)
                ChainDB(AtomicDB(batch)).persist_block(built.block)
                batch[_block_index_key(payload.block_number, payload.block_hash)] = b""
            if set_head:
                self._set_canonical_head(batch, payload.block_hash)
            batch.commit_to_backend()
        return payload.block_hash

    def verify_and_notify_new_payload(self, new_payload_request: Any) -> bool:
        """Execute the payload of a consensus `NewPayloadRequest`; return True when valid.

        A payload that was already executed is valid without running it again.
        The head does not move: fork choice moves it with `forkchoice_updated`.
        Raises UnknownParentError when the parent or its state is missing,
        because the engine cannot judge the payload then (the Engine API's
        SYNCING), and UnsupportedForkError for payloads before electra.
        """
        request = (
            new_payload_request
            if isinstance(new_payload_request, NewPayload)
            else from_ssz_request(new_payload_request)
        )
        if self.has_state(request.payload.block_hash):
            try:
                check_known_payload(request)
            except InvalidPayloadError as error:
                logger.warning("invalid execution payload %s", error)
                return False
            return True
        try:
            self.execute_batch([request], set_head=False)
        except InvalidPayloadError as error:
            logger.warning("invalid execution payload %s", error)
            return False
        return True

    def notify_new_payload(self, new_payload_request: Any) -> bool:
        return self.verify_and_notify_new_payload(new_payload_request)

    def _execute_one(
        self,
        layer: Overlay,
        request: NewPayload,
        trie_cache: StateTrieCache,
        senders: SenderRecovery,
        first_transaction: int,
    ) -> bytes:
        payload = request.payload
        db = CachingAtomicDB(layer, trie_cache)
        chaindb = ChainDB(db)

        parent = self._parent_header(chaindb, layer, payload.parent_hash, payload.block_number)
        check_header_fields(request, parent)

        try:
            transactions = decode_transactions(payload.transactions)
        except Exception as error:  # rlp and py-evm raise many types on malformed input
            reject(payload, "transactions", f"cannot decode a transaction: {error}")
        check_transaction_rules(payload, transactions)
        raw_transactions = payload.transactions
        for index, transaction in enumerate(transactions):
            sender = senders.get(first_transaction + index, raw_transactions[index])
            assign_sender(transaction, sender)
        versioned_hashes = blob_versioned_hashes(transactions)
        if versioned_hashes != tuple(request.versioned_hashes):
            reject(
                payload,
                "versioned_hashes",
                "blob versioned hashes differ from the transactions' hashes",
                list(versioned_hashes),
                list(request.versioned_hashes),
            )

        requests_hash = compute_requests_hash(request.execution_requests)
        # py-evm computes the transactions and withdrawals roots while importing, so
        # the header given to it leaves them blank and the claimed header reuses them.
        import_header = build_header(
            payload,
            request.parent_beacon_block_root,
            requests_hash,
            BLANK_ROOT_HASH,
            withdrawals_root=BLANK_ROOT_HASH,
        )
        block = PragueBlock(
            header=import_header,
            transactions=transactions,
            uncles=[],
            withdrawals=[w.to_evm() for w in payload.withdrawals],
        )
        base_header = self.vm_class.create_header_from_parent(
            parent,
            timestamp=payload.timestamp,
            gas_limit=payload.gas_limit,
            coinbase=payload.fee_recipient,
        )
        vm = self.build_vm(db, base_header)
        vm.encoded_transactions = payload.transactions
        try:
            result = vm.import_block(block)
        except ValidationError as error:
            reject(
                payload,
                "transactions",
                f"transaction {vm.transactions_applied} is invalid: {error}",
                transaction_index=vm.transactions_applied,
            )
        computed = result.block.header
        check_execution_results(request, computed, vm.execution_requests)

        claimed_header = build_header(
            payload,
            request.parent_beacon_block_root,
            requests_hash,
            computed.transaction_root,
            withdrawals_root=computed.withdrawals_root,
        )
        if claimed_header.hash != payload.block_hash:
            reject(
                payload,
                "block_hash",
                "block hash differs from the hash of the header built from the payload",
                claimed_header.hash,
                payload.block_hash,
            )
        chaindb.persist_block(result.block)
        layer[_block_index_key(payload.block_number, payload.block_hash)] = b""
        return payload.block_hash

    def _parent_header(
        self, chaindb: ChainDB, layer: Overlay, parent_hash: bytes, block_number: int
    ) -> BlockHeaderAPI:
        try:
            parent = chaindb.get_block_header_by_hash(parent_hash)
        except HeaderNotFound:
            raise UnknownParentError(
                "parent block is unknown", parent_hash=parent_hash, block_number=block_number
            ) from None
        pruned_below = int.from_bytes(layer.get_raw(META_PRUNED_BELOW) or b"", "big")
        if parent.block_number < pruned_below or layer.get_raw(parent.state_root) is None:
            raise UnknownParentError(
                "parent state was pruned", parent_hash=parent_hash, block_number=block_number
            )
        return parent

    # --- head, fork choice and pruning ---

    def _set_canonical_head(self, overlay: Overlay, head_hash: bytes) -> None:
        """Make `head_hash` canonical in `overlay`, moving transaction lookups with it."""
        db = AtomicDB(overlay)
        chaindb = ChainDB(db)
        if chaindb.get_canonical_head().hash == head_hash:
            return
        header = chaindb.get_block_header_by_hash(head_hash)
        with db.atomic_batch() as write:
            new_headers, old_headers = ChainDB._set_as_canonical_chain_head(
                write, header, GENESIS_PARENT_HASH
            )
        for old in old_headers:
            for tx_hash in chaindb.get_block_transaction_hashes(old):
                ChainDB._remove_transaction_from_canonical_chain(overlay, tx_hash)
        for new in new_headers:
            for index, tx_hash in enumerate(chaindb.get_block_transaction_hashes(new)):
                ChainDB._add_transaction_to_canonical_chain(overlay, tx_hash, new, index)

    def forkchoice_updated(self, head_hash: bytes, finalized_hash: bytes | None = None) -> None:
        """Move the canonical head to `head_hash`; on a new finalized block, prune.

        Raises UnknownParentError when either block is not stored.
        """
        with self._lock:
            overlay = Overlay(self.backend)
            for block_hash in (head_hash, finalized_hash):
                if block_hash is not None and not ChainDB(AtomicDB(overlay)).header_exists(
                    block_hash
                ):
                    raise UnknownParentError(
                        "fork choice names an unknown block", block_hash=block_hash
                    )
            self._set_canonical_head(overlay, head_hash)
            newly_finalized = finalized_hash is not None and finalized_hash != self.finalized_hash()
            if newly_finalized:
                self._prune(overlay, finalized_hash)
                overlay[META_FINALIZED_HASH] = finalized_hash
            overlay.commit_to_backend()
            if newly_finalized and self.mode == MODE_FULL:
                self._finalizations_since_gc += 1
                if self._finalizations_since_gc >= self.gc_interval:
                    self.collect_garbage()

    def collect_garbage(self) -> int:
        """Delete trie nodes, code and headers that no kept block needs; return the count.

        Kept are the stored blocks (canonical ones and forks above the
        finalized block) with their bodies, and the states that `has_state`
        reports. See `execution.pruning` for how reachability is decided.
        """
        with self._lock:
            reader = ChainDB(AtomicDB(Overlay(self.backend)))
            pruned_below = int.from_bytes(self.backend.get_raw(META_PRUNED_BELOW) or b"", "big")
            marker = Marker(self.backend.get_raw)
            marker.mark_key(BLANK_ROOT_HASH)
            marker.mark_key(EMPTY_SHA3)
            for key in self.backend.keys_with_prefix(BLOCK_INDEX_PREFIX):
                suffix = key[len(BLOCK_INDEX_PREFIX) :]
                number, block_hash = int.from_bytes(suffix[:8], "big"), suffix[8:]
                try:
                    header = reader.get_block_header_by_hash(block_hash)
                except HeaderNotFound:
                    continue
                marker.mark_key(block_hash)
                marker.mark_trie(header.transaction_root)
                marker.mark_trie(header.receipt_root)
                marker.mark_trie(header.withdrawals_root)
                if self.mode == MODE_ARCHIVE or number >= pruned_below:
                    marker.mark_state(header.state_root)
            removed = sweep(self.backend, marker.live, self.backend.keys_with_prefix(b""))
            self._finalizations_since_gc = 0
        logger.info("execution garbage collected removed=%d kept=%d", removed, len(marker.live))
        return removed

    def _prune(self, overlay: Overlay, finalized_hash: bytes) -> None:
        """Forget blocks that conflict with the finalized block; in full mode, old states too.

        This forgets headers and index entries; `collect_garbage` later deletes
        the trie nodes and code that no kept block needs.
        """
        chaindb = ChainDB(AtomicDB(overlay))
        finalized = chaindb.get_block_header_by_hash(finalized_hash)
        if chaindb.get_canonical_block_hash(finalized.block_number) != finalized_hash:
            raise ExecutionError(
                "finalized block is not an ancestor of the head",
                finalized_hash=finalized_hash,
                head_hash=chaindb.get_canonical_head().hash,
            )
        # Blocks up to the previous finalized number were pruned by earlier calls.
        previous = chaindb.get_block_header_by_hash(self.finalized_hash()).block_number
        start = _block_index_key(previous + 1, b"")
        orphans = 0
        for key in list(self.backend.keys_with_prefix(BLOCK_INDEX_PREFIX, start)):
            suffix = key[len(BLOCK_INDEX_PREFIX) :]
            number, block_hash = int.from_bytes(suffix[:8], "big"), suffix[8:]
            if number > finalized.block_number:
                continue
            canonical = chaindb.get_canonical_block_hash(number)
            if block_hash != canonical:
                del overlay[key]
                overlay.delete(block_hash)  # the header (py-evm keys headers by hash)
                orphans += 1
        if self.mode == MODE_FULL:
            pruned_below = max(0, finalized.block_number - self.retained_states)
            overlay[META_PRUNED_BELOW] = pruned_below.to_bytes(8, "big")
        logger.info(
            "execution finalized number=%d hash=0x%s orphans_pruned=%d",
            finalized.block_number,
            finalized_hash.hex(),
            orphans,
        )
