"""The node's chain: fork choice, block import, head and finality tracking, and storage.

`BeaconChain` owns the fork-choice store and the database. Every method that changes them
takes `lock`, because the node runs them in worker threads (`trio.to_thread`). Readers such
as the Beacon API use `snapshot`, an immutable view replaced after each head change.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import CaplinError, StorageError, require
from caplin.node.sidecars import NodeAvailability
from caplin.storage.archive import DEFAULT_RESTORE_POINT_INTERVAL, open_history
from caplin.storage.beacon_db import BeaconDB, BlockWrite
from caplin.transition.block import process_block
from caplin.transition.engine import TrustingEngine
from caplin.transition.helpers import compute_epoch_at_slot, compute_start_slot_at_epoch
from caplin.transition.signatures import SignatureBatch
from caplin.transition.state_transition import add_block_signature, verify_state_root
from forkchoice.errors import BlockNotReadyError, InvalidBlockError
from forkchoice.store import Checkpoint, Store

log = logging.getLogger("caplin.node.chain")

ZERO_HASH = b"\x00" * 32


class NodeStore(Store):
    """Fork choice with the merge check also accepting a pre-bellatrix parent state.

    The first bellatrix block of a chain that started before bellatrix has an altair parent
    state without a payload header. Such a state has not merged yet.
    """

    # TODO(shared): drop once forkchoice.store.Store handles a pre-bellatrix pre-state itself.
    def _is_merge_transition_block(self, pre_state: Any, block: Any) -> bool:
        if self.spec.fork_of(pre_state) < Fork.BELLATRIX:
            payload = block.body.execution_payload
            return payload.hash_tree_root() != type(payload)().hash_tree_root()
        return super()._is_merge_transition_block(pre_state, block)

    def on_block(self, signed_block: Any, *, optimistic: bool = False) -> bytes:
        # The availability check gets only the block root; `NodeAvailability` needs the block.
        expect = getattr(self.availability, "expect_block", None)
        if expect is None:
            return super().on_block(signed_block, optimistic=optimistic)
        expect(signed_block.message)
        try:
            return super().on_block(signed_block, optimistic=optimistic)
        except CaplinError:
            # Downloaded sidecars of a block that failed may be wrong: a later download of
            # the same block must not find them.
            self.availability.discard_offers(bytes(signed_block.message.hash_tree_root()))
            raise
        finally:
            expect(None)

    # The validator client advances the head state to the next slot ahead of time (epoch
    # processing included). A block on that parent at that slot starts from a copy of it
    # instead of running the same slots again.
    advanced_states: dict[tuple[bytes, int], Any] = {}

    # Post-states and pending signatures of blocks this node produced, by block root: the
    # import then checks the signatures and the state root instead of processing it again.
    produced: dict[bytes, tuple[Any, SignatureBatch]] = {}

    def _run_state_transition(self, pre_state: Any, signed_block: Any, root: bytes) -> Any:
        block = signed_block.message
        produced = self.produced.pop(root, None)
        if produced is not None:
            try:
                return _check_produced(self.spec, produced, signed_block)
            except CaplinError as error:
                raise InvalidBlockError(
                    "state_transition", str(error), block_root=root, slot=int(block.slot)
                ) from error
        advanced = self.advanced_states.get((bytes(block.parent_root), int(block.slot)))
        if advanced is None:
            return super()._run_state_transition(pre_state, signed_block, root)
        try:
            return apply_block(
                self.spec, advanced, signed_block, self.engine, self.verify_signatures
            )
        except (CaplinError, ValueError, IndexError, OverflowError) as error:
            raise InvalidBlockError(
                "state_transition", str(error), block_root=root, slot=int(block.slot)
            ) from error


def _check_produced(spec: Any, produced: tuple[Any, SignatureBatch], signed_block: Any) -> Any:
    """Verify an own block's signatures and state root against its production post-state.

    The payload needs no engine call: the builder executed it and stored the result.
    """
    post_state, sigs = produced
    block = signed_block.message
    add_block_signature(spec, post_state, signed_block, sigs)
    sigs.verify()
    verify_state_root(block, post_state)
    return post_state


def apply_block(
    spec: Any, advanced_state: Any, signed_block: Any, engine: Any, verify_signatures: bool
) -> Any:
    """Return the post-state of `signed_block` on its parent state already advanced to the
    block's slot: `state_transition` without `process_slots`. `advanced_state` is unchanged.

    Raises BlockProcessingError when the block is invalid, as `state_transition` does.
    """
    block = signed_block.message
    state = advanced_state.copy()
    require(
        spec.fork_of(block) == spec.fork_of(state),
        "block_fork",
        "block type is not of the fork at its slot",
        block_fork=spec.fork_of(block).lower,
        state_fork=spec.fork_of(state).lower,
    )
    sigs = SignatureBatch(enabled=verify_signatures)
    add_block_signature(spec, state, signed_block, sigs)
    process_block(spec, state, block, sigs, engine or TrustingEngine())
    sigs.verify()
    verify_state_root(block, state)
    return state


@dataclass(frozen=True)
class ChainSnapshot:
    """Head, checkpoints and head state at one moment, for readers outside the import path."""

    head_root: bytes
    head_slot: int
    head_state: Any
    justified: Checkpoint
    finalized: Checkpoint
    previous_justified: Checkpoint
    optimistic: bool = False


@dataclass(frozen=True)
class ImportResult:
    root: bytes
    slot: int
    milliseconds: float
    head_changed: bool
    finalized_changed: bool


class BeaconChain:
    """Fork choice plus storage of one chain.

    Args:
        spec: the chain's `ChainSpec`.
        db: the open `BeaconDB`, already initialized with the genesis or an anchor.
        execution: the `ExecutionEngine` the state transition hands payloads to.
        embedded: the `EmbeddedEngine` whose head follows fork choice, or None.
        archive: keep every finalized state (`caplin.storage.archive`); the datadir's
            recorded mode must match, or StorageError is raised.
        restore_point_interval: slots between the archive's full state snapshots.
    """

    def __init__(
        self,
        spec: Any,
        db: BeaconDB,
        execution: Any,
        embedded: Any = None,
        archive: bool = False,
        restore_point_interval: int = DEFAULT_RESTORE_POINT_INTERVAL,
    ) -> None:
        self.spec = spec
        self.db = db
        self.execution = execution
        self.embedded = embedded
        self.lock = threading.RLock()
        self.reorgs = 0
        self.imported_blocks = 0
        # Called as listener(kind, **fields) for "block", "head", "finalized" and "reorg",
        # in the importing thread; listeners must not block.
        self.listeners: list[Callable[..., None]] = []
        # slot and parent root of every block after the anchor, to find the canonical chain
        # and the conflicting blocks when finality advances.
        self._index: dict[bytes, tuple[int, bytes]] = {}
        self._deferred: list[BlockWrite] = []
        self._storing: tuple[bytes, Any, list[Any]] | None = None
        # Writes that failed, oldest first, with every write after them (see `_write`).
        self._unwritten: list[BlockWrite] = []
        self._last_write_failure_log = -60.0
        self._writes_failing = False
        self._holding_writes = False
        self.history = open_history(db, archive, restore_point_interval)
        self.archive = archive
        # Blob and data column sidecars for fork choice's data-availability check.
        self.availability = NodeAvailability(spec, db)
        self.store = self._load_store()
        self._stored_finalized = self.store.finalized_checkpoint
        self.snapshot = self._take_snapshot()

    # --- startup -----------------------------------------------------------------------

    def _load_store(self) -> Store:
        """Anchor fork choice at the stored anchor block and replay every later block."""
        anchor_root = self.db.anchor_root()
        anchor_block = self.db.block(anchor_root)
        anchor_state = self.db.state(anchor_root)
        if anchor_block is None or anchor_state is None:
            raise CaplinError("database is missing its anchor block or state", root=anchor_root)
        store = NodeStore(
            self.spec,
            anchor_state,
            anchor_block.message,
            engine=self.execution,
            verify_signatures=False,
            availability=self.availability,
        )
        store.on_tick(max(int(time.time() * 1000), store.time_ms))

        anchor_slot = int(anchor_block.message.slot)
        replayed = 0
        started = time.perf_counter()
        # Stored blocks were available when first imported; replay needs only their stored
        # sidecars, whatever columns the node custodies now.
        self.availability.replaying = True
        for slot, root in self.db.block_slots(anchor_slot + 1):
            signed_block = self.db.block(root)
            try:
                store.import_block(signed_block)
            except CaplinError as error:
                log.warning(
                    "stored block not replayed slot=%d root=0x%s error=%s", slot, root.hex(), error
                )
                continue
            self._index[root] = (slot, bytes(signed_block.message.parent_root))
            replayed += 1

        self.availability.replaying = False
        store.verify_signatures = True
        store.advanced_states = {}
        store.produced = {}
        if replayed:
            log.info(
                "replayed stored blocks count=%d anchor_slot=%d ms=%d",
                replayed,
                anchor_slot,
                (time.perf_counter() - started) * 1000,
            )
        return store

    # --- time --------------------------------------------------------------------------

    def on_tick(self, time_ms: int) -> None:
        with self.lock:
            if time_ms > self.store.time_ms:
                self.store.on_tick(time_ms)

    # --- blocks ------------------------------------------------------------------------

    def import_block(self, signed_block: Any) -> ImportResult:
        """Run fork choice's `on_block` on `signed_block`, update the head and store it.

        Raises:
            ForkChoiceError: the block is invalid or cannot be imported yet.
        """
        started = time.perf_counter()
        block = signed_block.message
        with self.lock:
            self.store.on_tick(max(int(time.time() * 1000), self.store.time_ms))
            root = bytes(block.hash_tree_root())
            if root in self.store.blocks:
                return ImportResult(root, int(block.slot), 0.0, False, False)
            self.store.import_block(signed_block)
            self._index[root] = (int(block.slot), bytes(block.parent_root))
            previous_head = self.snapshot.head_root
            # The new head is visible to readers before its block is written: `block` and
            # `sidecars` serve it from here until the write is done.
            sidecars = self.availability.take_found(root)
            self._storing = (root, signed_block, sidecars)
            try:
                head_changed, finalized_changed = self._update_head()
                self._persist(root, signed_block, previous_head, sidecars)
            finally:
                self._storing = None
            self.imported_blocks += 1
            self._emit("block", root=root, slot=int(block.slot))
            self._emit_head_changes(previous_head, head_changed, finalized_changed)
        milliseconds = (time.perf_counter() - started) * 1000
        return ImportResult(root, int(block.slot), milliseconds, head_changed, finalized_changed)

    def set_advanced_state(self, parent_root: bytes, slot: int, state: Any) -> None:
        """Offer `state`, the post-state of `parent_root` advanced to `slot`, to the import of
        a block at `slot` (it replaces any earlier offer)."""
        self.store.advanced_states = {(parent_root, slot): state}

    def sidecars(self, root: bytes) -> list[Any]:
        """Return the blob or data column sidecars of block `root`, by index: those of an
        import whose write is in progress or held, else the stored ones."""
        storing = self._storing
        if storing is not None and storing[0] == root:
            return list(storing[2])
        for write in list(self._unwritten):
            if write.block is not None and write.root == root:
                return list(write.sidecars)
        return self.db.sidecars(root)

    def sidecar(self, root: bytes, index: int) -> Any | None:
        """Return the sidecar of block `root` at a blob index or column, or None."""
        storing = self._storing
        if (storing is not None and storing[0] == root) or any(
            write.root == root and write.block is not None for write in list(self._unwritten)
        ):
            return next((s for s in self.sidecars(root) if int(s.index) == index), None)
        return self.db.sidecar(root, index)

    def offer_produced(self, root: bytes, post_state: Any, sigs: SignatureBatch) -> None:
        """Hand the production post-state and unverified signatures of our own block `root`
        to its import (see `NodeStore.produced`)."""
        self.store.produced = {root: (post_state, sigs)}

    def on_attestation(self, attestation: Any) -> bool:
        """Apply an attestation to fork choice, queueing it when it is for a future slot.

        Returns False when it was queued; raises ForkChoiceError when it is rejected.
        """
        with self.lock:
            return self.store.on_attestation(attestation, queue_future=True)

    def update_head(self) -> bool:
        """Recompute the head (after ticks and attestations); return True when it moved."""
        with self.lock:
            previous_head = self.snapshot.head_root
            head_changed, finalized_changed = self._update_head()
            if head_changed or finalized_changed:
                self._persist_head()
            self._emit_head_changes(previous_head, head_changed, finalized_changed)
            return head_changed

    def _emit_head_changes(
        self, previous_head: bytes, head_changed: bool, finalized_changed: bool
    ) -> None:
        snapshot = self.snapshot
        if head_changed:
            if self._descends(snapshot.head_root, previous_head):
                self._emit("head", root=snapshot.head_root, slot=snapshot.head_slot)
            else:
                self._emit(
                    "reorg",
                    root=snapshot.head_root,
                    slot=snapshot.head_slot,
                    old_root=previous_head,
                )
                self._emit("head", root=snapshot.head_root, slot=snapshot.head_slot)
        if finalized_changed:
            self._emit("finalized", epoch=snapshot.finalized.epoch, root=snapshot.finalized.root)

    def _emit(self, kind: str, **fields: Any) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, **fields)
            except Exception:  # a listener's bug must not fail the import
                log.exception("chain event listener failed kind=%s", kind)

    def _update_head(self) -> tuple[bool, bool]:
        store = self.store
        head = store.get_head()
        previous = self.snapshot
        head_changed = head != previous.head_root
        if head_changed and not self._descends(head, previous.head_root):
            self.reorgs += 1
            log.info(
                "chain reorg old_head=0x%s new_head=0x%s",
                previous.head_root.hex(),
                head.hex(),
            )
        finalized_changed = store.finalized_checkpoint.epoch > previous.finalized.epoch
        self.snapshot = self._take_snapshot(head)
        if head_changed or finalized_changed:
            self._notify_execution()
        return head_changed, finalized_changed

    def _descends(self, root: bytes, ancestor: bytes) -> bool:
        if ancestor not in self.store.blocks or root not in self.store.blocks:
            return False
        return self.store.is_ancestor(root, ancestor)

    def _take_snapshot(self, head: bytes | None = None) -> ChainSnapshot:
        store = self.store
        head = store.get_head() if head is None else head
        state = store.block_states[head]
        return ChainSnapshot(
            head_root=head,
            head_slot=int(store.blocks[head].slot),
            head_state=state,
            justified=store.justified_checkpoint,
            finalized=store.finalized_checkpoint,
            previous_justified=Checkpoint(
                int(state.previous_justified_checkpoint.epoch),
                bytes(state.previous_justified_checkpoint.root),
            ),
            optimistic=store.is_optimistic(head),
        )

    def _notify_execution(self) -> None:
        """Move the embedded engine's head (and finalized block) to follow fork choice."""
        if self.embedded is None:
            return
        snapshot = self.snapshot
        head_hash = _payload_hash(self.spec, snapshot.head_state)
        if head_hash is None:
            return
        finalized_hash = None
        finalized_state = self.store.block_states.get(snapshot.finalized.root)
        if finalized_state is not None:
            finalized_hash = _payload_hash(self.spec, finalized_state)
        try:
            self.embedded.forkchoice_updated(head_hash, finalized_hash)
        except CaplinError as error:
            log.warning("execution fork choice update failed error=%s", error)

    # --- storage -----------------------------------------------------------------------

    def _persist(
        self, root: bytes, signed_block: Any, previous_head: bytes, sidecars: list[Any]
    ) -> None:
        block = signed_block.message
        state = self.store.block_states[root]
        parent = self._index.get(bytes(block.parent_root))
        parent_slot = parent[0] if parent is not None else -1
        epoch_boundary = compute_epoch_at_slot(self.spec, int(block.slot)) > (
            compute_epoch_at_slot(self.spec, parent_slot) if parent_slot >= 0 else -1
        )
        self._write(self._base_write(root, signed_block, sidecars))
        # Encoding a state takes longer than the rest of an import, so states are written
        # later by `flush`. The anchor moves only with that write, so a crash before it
        # restarts from the previous anchor and replays more blocks.
        if epoch_boundary:
            self._deferred.append(BlockWrite(root, state=state))
        self._add_finality()

    def _persist_head(self) -> None:
        """Store a head or finality change that came without a new block."""
        snapshot = self.snapshot
        self._write(
            BlockWrite(
                snapshot.head_root,
                head=snapshot.head_root,
                justified=tuple(snapshot.justified),
                finalized=tuple(snapshot.finalized),
            )
        )
        self._add_finality()

    def flush(self) -> None:
        """Write the states that imports deferred (see `_persist`), one transaction each, then
        archive or prune the finalized states (`StateHistory.update`)."""
        with self.lock:
            if not self._write_queued():
                return
            deferred, self._deferred = self._deferred, []
            for position, write in enumerate(deferred):
                try:
                    self.db.apply(write)
                except StorageError as error:
                    self._deferred[:0] = deferred[position:]
                    self._log_write_failure(error)
                    return
        # Archiving and pruning finalized states runs outside the lock, so imports go on.
        self.history.update(self.store.block_states.get)
        self._prune_sidecars()

    def _prune_sidecars(self) -> None:
        """Delete sidecars older than the blob retention window, up to the finalized slot.

        Peers may request blob and column sidecars of the last
        `MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS` (deneb, electra) or
        `MIN_EPOCHS_FOR_DATA_COLUMN_SIDECARS_REQUESTS` (fulu) epochs, so a node keeps those.
        An archive node keeps every sidecar.
        """
        if self.archive:
            return
        snapshot = self.snapshot
        window = max(
            int(getattr(self.spec, "MIN_EPOCHS_FOR_BLOB_SIDECARS_REQUESTS", 0)),
            int(getattr(self.spec, "MIN_EPOCHS_FOR_DATA_COLUMN_SIDECARS_REQUESTS", 0)),
        )
        current_epoch = compute_epoch_at_slot(self.spec, snapshot.head_slot)
        if window == 0 or current_epoch <= window:
            return
        cutoff = min(
            compute_start_slot_at_epoch(self.spec, current_epoch - window),
            compute_start_slot_at_epoch(self.spec, snapshot.finalized.epoch),
        )
        try:
            deleted = self.db.prune_sidecars(cutoff)
        except StorageError as error:
            log.warning("sidecar pruning failed before_slot=%d error=%s", cutoff, error)
            return
        if deleted:
            log.info("pruned sidecars before_slot=%d sidecars=%d", cutoff, deleted)

    def _write(self, write: BlockWrite) -> None:
        """Write `write` after every earlier write that failed, in order.

        A write that fails (full disk, I/O error) stays queued in memory with the ones after
        it and is retried by the next write, so the database never skips a block: what it
        holds is always the chain up to some import, as after a crash.
        """
        self._unwritten.append(write)
        if not self._holding_writes:
            self._write_queued()

    @contextmanager
    def batched_writes(self) -> Iterator[None]:
        """Hold the writes of the imports inside the block and apply them in one transaction
        at its end (a range-sync batch): one commit instead of one per block."""
        with self.lock:
            self._holding_writes = True
        try:
            yield
        finally:
            with self.lock:
                self._holding_writes = False
                self._write_queued()

    def _write_queued(self) -> bool:
        """Apply the queued writes in order; return False when they failed (they stay queued)."""
        if self._unwritten:
            try:
                self.db.apply_many(self._unwritten)
            except StorageError as error:
                self._log_write_failure(error)
                return False
            self._unwritten = []
        if self._writes_failing:
            self._writes_failing = False
            log.info("database writes resumed")
        return True

    def _log_write_failure(self, error: StorageError) -> None:
        self._writes_failing = True
        now = time.monotonic()
        if now - self._last_write_failure_log < 60:
            return
        self._last_write_failure_log = now
        log.error(
            "database write failed; imports are kept in memory and written once it works "
            "again error=%s queued_writes=%d",
            error,
            len(self._unwritten),
        )

    def _base_write(self, root: bytes, signed_block: Any, sidecars: list[Any]) -> BlockWrite:
        snapshot = self.snapshot
        return BlockWrite(
            root=root,
            block=signed_block,
            head=snapshot.head_root,
            justified=tuple(snapshot.justified),
            finalized=tuple(snapshot.finalized),
            sidecars=sidecars,
        )

    def _add_finality(self) -> None:
        """Defer the write of the finalized state, canonical chain and pruning that a new
        finalized checkpoint brings."""
        finalized = self.store.finalized_checkpoint
        if finalized.epoch <= self._stored_finalized.epoch:
            return
        finalized_state = self.store.block_states.get(finalized.root)
        if finalized_state is None:
            return
        previous_anchor = self._stored_finalized.root
        if finalized.root == previous_anchor:
            self._stored_finalized = finalized
            return
        canonical = self._ancestors(finalized.root, stop=previous_anchor)

        write = BlockWrite(finalized.root)
        self._deferred.append(write)
        write.anchor_root = finalized.root
        write.finalized_state = finalized_state
        write.canonical = {slot: root for root, slot in canonical.items()}
        finalized_slot = self._index.get(finalized.root, (0, b""))[0]
        write.prune = self._conflicting(finalized.root, finalized_slot)
        write.pruned_slot = finalized_slot

        for _, root in write.prune:
            self._index.pop(root, None)
        # The new finalized block stays indexed as the root of every later block; the
        # previous one and the blocks between them are final and leave the index.
        self._index.pop(previous_anchor, None)
        for root in canonical:
            if root != finalized.root:
                self._index.pop(root, None)
        self._stored_finalized = finalized
        log.info(
            "finalized checkpoint epoch=%d root=0x%s pruned_blocks=%d",
            finalized.epoch,
            finalized.root.hex(),
            len(write.prune),
        )

    def _ancestors(self, root: bytes, stop: bytes) -> dict[bytes, int]:
        """Return {root: slot} of `root` and its ancestors after `stop` (known blocks only)."""
        chain: dict[bytes, int] = {}
        while root in self._index and root != stop:
            slot, parent = self._index[root]
            chain[root] = slot
            root = parent
        return chain

    def _conflicting(self, finalized_root: bytes, finalized_slot: int) -> list[tuple[int, bytes]]:
        """Return (slot, root) of indexed blocks that do not descend from the finalized block
        and are not its ancestors."""
        keep: dict[bytes, bool] = {finalized_root: True}
        ancestors = set(self._ancestors(finalized_root, stop=ZERO_HASH))

        def descends(root: bytes) -> bool:
            path = []
            verdict = False
            while True:
                if root in keep:
                    verdict = keep[root]
                    break
                entry = self._index.get(root)
                if entry is None or entry[0] <= finalized_slot:
                    verdict = False
                    break
                path.append(root)
                root = entry[1]
            for node in path:
                keep[node] = verdict
            return verdict

        conflicting = []
        for root, (slot, _) in self._index.items():
            if root in ancestors or descends(root):
                continue
            conflicting.append((slot, root))
        return conflicting

    # --- reads -------------------------------------------------------------------------

    def block(self, root: bytes) -> Any:
        """Return the `SignedBeaconBlock` with this root from storage, or None."""
        storing = self._storing
        if storing is not None and storing[0] == root:
            return storing[1]
        # Imports whose writes are held by a batch or wait after a failed write.
        for write in list(self._unwritten):
            if write.block is not None and write.root == root:
                return write.block
        return self.db.block(root)

    def state_of(self, root: bytes) -> Any:
        """Return the post-state of block `root` when fork choice or storage still has it."""
        state = self.store.block_states.get(root)
        return state if state is not None else self.db.state(root)

    def canonical_root_at_slot(self, slot: int) -> bytes | None:
        """Return the root of the canonical block at `slot`, or None for an empty slot."""
        snapshot = self.snapshot
        if slot > snapshot.head_slot:
            return None
        finalized_slot = compute_start_slot_at_epoch(self.spec, snapshot.finalized.epoch)
        if slot < finalized_slot:
            root = self.db.canonical_root(slot)
            if root is not None:
                return root
        try:
            root = self.store.get_ancestor(snapshot.head_root, slot)
        except (CaplinError, KeyError, IndexError):
            return self.db.canonical_root(slot)
        block = self.store.blocks.get(root)
        return root if block is not None and int(block.slot) == slot else None

    def is_known(self, root: bytes) -> bool:
        return root in self.store.blocks or self.db.has_block(root)


def _payload_hash(spec: Any, state: Any) -> bytes | None:
    if spec.fork_of(state) < Fork.BELLATRIX:
        return None
    block_hash = bytes(state.latest_execution_payload_header.block_hash)
    return None if block_hash == ZERO_HASH else block_hash


__all__ = ["BeaconChain", "BlockNotReadyError", "ChainSnapshot", "ImportResult"]
