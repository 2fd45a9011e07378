"""Historical states: archive mode keeps every finalized state, pruned mode deletes old ones.

A datadir has one mode, chosen at its first start and stored in `archive_meta`:

- `pruned` (the default): once a block is finalized, the stored post-states of the canonical
  blocks before it are deleted. States are served from the last finalized block on, plus the
  genesis state.
- `archive` (`--caplin.archive=true`): additionally, a full state snapshot (a restore point) is
  stored every `restore_point_interval` slots of the finalized chain, and the state root of
  every slot is indexed. Any finalized state is rebuilt from the nearest restore point below
  it by replaying the canonical blocks after it (without signature checks, because every block
  was checked on import), then `process_slots` up to the requested slot.

Blocks are not this module's concern: both modes keep every canonical block (`BeaconDB`).
Forks that lost to finality are pruned by `BeaconChain`, so the archive stores the canonical
finalized chain only. States after the finalized block come from fork choice.

Tables (integer keys are 8 bytes big-endian):

- `archive_meta`: `mode`, `archived_slot` (the last slot whose state root is indexed),
  `states_pruned_slot` (the `states` entries of canonical blocks before it are deleted);
- `archive_snapshots`: slot -> fork byte ++ zstd(SSZ `BeaconState`), the restore points;
- `archive_roots`: state root -> slot, for every slot up to `archived_slot`.

Every write is one transaction that also moves its progress marker, so after a crash the
next `update` continues from the last committed slot.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import cramjam

from caplin.config.forks import Fork
from caplin.errors import CaplinError, StorageError
from caplin.storage.beacon_db import BeaconDB
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition

log = logging.getLogger("caplin.storage.archive")

ARCHIVE_TABLES = ["archive_meta", "archive_snapshots", "archive_roots"]

ARCHIVE = "archive"
PRUNED = "pruned"

# Slots between restore points. On the 64-validator minimal-preset dev chain (bench/archive.py,
# docs/benchmarks.md) 32 slots cost ~340 bytes of snapshot per slot, a quarter of the block
# bytes, and a random state replays ~13 blocks. NOTE: a mainnet-size state (~200 MB) is far
# larger next to its blocks, so such chains need a much larger interval.
DEFAULT_RESTORE_POINT_INTERVAL = 32
# Rebuilt states kept in memory; a later request replays from the closest one below it.
DEFAULT_CACHE_SIZE = 16
ZSTD_LEVEL = 3
# State roots indexed per write transaction while catching up on many blocks.
_MAX_ROOTS_PER_WRITE = 4096

_MODE = b"mode"
_ARCHIVED_SLOT = b"archived_slot"
_STATES_PRUNED_SLOT = b"states_pruned_slot"


def _u64(value: int) -> bytes:
    return int(value).to_bytes(8, "big")


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


class StateHistory:
    """Historical-state storage of one beacon database in `archive` or `pruned` mode.

    Open it with `open_history`. `update` runs after each finality write (from
    `BeaconChain.flush`); the read methods may run in any thread at the same time.
    """

    def __init__(
        self,
        db: BeaconDB,
        mode: str,
        restore_point_interval: int = DEFAULT_RESTORE_POINT_INTERVAL,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        if restore_point_interval < 1:
            raise StorageError(
                "restore point interval (--caplin.archive.restore-interval) must be at least "
                "one slot",
                restore_point_interval=restore_point_interval,
            )
        self.db = db
        self.spec = db.spec
        self.mode = mode
        self.restore_point_interval = restore_point_interval
        self._cache_size = cache_size
        self._cache: OrderedDict[int, Any] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._update_lock = threading.Lock()

    @property
    def archive(self) -> bool:
        return self.mode == ARCHIVE

    # --- progress ----------------------------------------------------------------------

    def archived_slot(self) -> int:
        """Return the last slot whose state root is indexed (0 before the first update)."""
        return self._meta_int(_ARCHIVED_SLOT)

    def finalized_slot(self) -> int:
        """Return the slot of the last finalized block written to the database.

        States at and after it come from fork choice; earlier ones from this store.
        """
        return self.db.pruned_slot()

    def _meta_int(self, key: bytes) -> int:
        with self.db.kv.read() as txn:
            raw = txn.get("archive_meta", key)
        return 0 if raw is None else _int(raw)

    # --- writes ------------------------------------------------------------------------

    def update(self, hot_state: Callable[[bytes], Any] | None = None) -> None:
        """Archive (archive mode) and prune (both modes) up to the last finalized block.

        `hot_state(block_root)` returns a post-state fork choice still holds, or None; those
        states are used instead of replaying their blocks.

        Raises:
            StorageError: a replayed block does not reach its stored state root.
        """
        with self._update_lock:
            finalized_slot = self.finalized_slot()
            if self.archive and self.archived_slot() < finalized_slot:
                self._archive_to(finalized_slot, hot_state or (lambda root: None))
            self._prune_states(finalized_slot)

    def _archive_to(self, target_slot: int, hot_state: Callable[[bytes], Any]) -> None:
        started = time.perf_counter()
        first_slot = self.archived_slot()
        state = self.state_at_slot(first_slot)
        if state is None:
            raise StorageError(
                "last archived state cannot be rebuilt: no restore point at or below it; the "
                "datadir may be corrupt",
                slot=first_slot,
            )
        last_snapshot = self._snapshot_slot_at_or_before(first_slot)
        blocks = 0
        pending: dict[bytes, int] = {}
        canonical = self._canonical_blocks(first_slot + 1, target_slot + 1)
        for position, (slot, root) in enumerate(canonical):
            roots, state = self._advance_to_block(state, slot, root, hot_state)
            pending.update(roots)
            self._cache_put(slot, state)
            blocks += 1
            snapshot = None
            if slot // self.restore_point_interval > last_snapshot // self.restore_point_interval:
                snapshot = self._encode(state)
                last_snapshot = slot
            last = position == len(canonical) - 1
            if snapshot is not None or last or len(pending) >= _MAX_ROOTS_PER_WRITE:
                self._write_progress(pending, slot, snapshot)
                pending = {}
        log.info(
            "archived finalized states from_slot=%d to_slot=%d blocks=%d ms=%d",
            first_slot + 1,
            target_slot,
            blocks,
            (time.perf_counter() - started) * 1000,
        )

    def _advance_to_block(
        self, state: Any, slot: int, root: bytes, hot_state: Callable[[bytes], Any]
    ) -> tuple[dict[bytes, int], Any]:
        """Return ({state root: slot} for the slots after `state` up to `slot`, post-state of
        block `root` at `slot`)."""
        signed_block = self.db.block(root)
        if signed_block is None:
            raise StorageError(
                "canonical block is missing; the datadir may be corrupt", slot=slot, root=root
            )
        roots: dict[bytes, int] = {}
        history_length = self.spec.SLOTS_PER_HISTORICAL_ROOT
        # `state_roots` of a later state names the roots of the slots before it, but only the
        # last SLOTS_PER_HISTORICAL_ROOT of them, so long runs of empty slots go in steps.
        while slot - int(state.slot) > history_length:
            stop = int(state.slot) + history_length
            start = int(state.slot)
            state = process_slots(self.spec, state.copy(), stop)
            roots.update(_roots_between(self.spec, state, start, stop))
        start = int(state.slot)
        post_state = hot_state(root)
        if post_state is None:
            post_state = self._replay(state, signed_block)
        roots.update(_roots_between(self.spec, post_state, start, slot))
        roots[bytes(signed_block.message.state_root)] = slot
        return roots, post_state

    def _write_progress(self, roots: dict[bytes, int], slot: int, snapshot: bytes | None) -> None:
        """Index `roots` and store the encoded restore point of `slot`, if any, then mark
        `slot` archived, in one transaction. The caller encodes the state beforehand, so the
        write transaction (which block imports wait for) stays short."""
        with self.db.kv.write() as txn:
            for state_root, root_slot in roots.items():
                txn.put("archive_roots", state_root, _u64(root_slot))
            if snapshot is not None:
                txn.put("archive_snapshots", _u64(slot), snapshot)
            txn.put("archive_meta", _ARCHIVED_SLOT, _u64(slot))

    def write_genesis(self, genesis_state: Any) -> None:
        """Store the genesis state as the first restore point and index its root."""
        snapshot = self._encode(genesis_state)
        with self.db.kv.write() as txn:
            txn.put("archive_snapshots", _u64(0), snapshot)
            txn.put("archive_roots", bytes(genesis_state.hash_tree_root()), _u64(0))
            txn.put("archive_meta", _ARCHIVED_SLOT, _u64(0))

    def _prune_states(self, finalized_slot: int) -> None:
        """Delete stored post-states of canonical blocks before the finalized block, except
        the genesis state."""
        pruned_slot = self._meta_int(_STATES_PRUNED_SLOT)
        if pruned_slot >= finalized_slot:
            return
        first = max(pruned_slot, 1)
        count = 0
        with self.db.kv.write() as txn:
            for _, root in txn.items("canonical", _u64(first), _u64(finalized_slot)):
                txn.delete("states", root)
                count += 1
            txn.put("archive_meta", _STATES_PRUNED_SLOT, _u64(finalized_slot))
        log.debug(
            "pruned finalized states before_slot=%d canonical_blocks=%d", finalized_slot, count
        )

    # --- reads -------------------------------------------------------------------------

    def state_at_slot(self, slot: int) -> Any | None:
        """Return the canonical state at `slot`, rebuilt from the nearest restore point.

        None when the slot is after the last finalized block (fork choice holds those) or
        when this is not an archive. The returned state belongs to the caller.

        Raises:
            StorageError: a stored value cannot be decoded, or a replayed block does not
                reach its stored state root.
        """
        if not self.archive or slot > self.finalized_slot():
            return None
        base_slot, state = self._closest_state(slot)
        if state is None:
            return None
        for _, root in self._canonical_blocks(base_slot + 1, slot + 1):
            signed_block = self.db.block(root)
            if signed_block is None:
                raise StorageError(
                    "canonical block is missing; the datadir may be corrupt", root=root
                )
            state = self._replay(state, signed_block)
        if int(state.slot) < slot:
            state = process_slots(self.spec, state, slot)
        self._cache_put(slot, state)
        return state.copy()

    def slot_of_state_root(self, state_root: bytes) -> int | None:
        """Return the slot of the archived canonical state with this root, or None."""
        with self.db.kv.read() as txn:
            raw = txn.get("archive_roots", state_root)
        return None if raw is None else _int(raw)

    def state_by_root(self, state_root: bytes) -> Any | None:
        """Return the archived canonical state with this root, or None."""
        slot = self.slot_of_state_root(state_root)
        return None if slot is None else self.state_at_slot(slot)

    def _closest_state(self, slot: int) -> tuple[int, Any]:
        """Return (slot, state copy) of the cached state or restore point closest below `slot`."""
        with self.db.kv.read() as txn:
            found = next(txn.items("archive_snapshots", b"", _u64(slot + 1), reverse=True), None)
        base_slot = -1 if found is None else _int(found[0])
        with self._cache_lock:
            cached = [s for s in self._cache if base_slot < s <= slot]
            if cached:
                best = max(cached)
                self._cache.move_to_end(best)
                return best, self._cache[best].copy()
        if found is None:
            return -1, None
        return base_slot, self._decode(found[1])

    def has_restore_point(self, slot: int) -> bool:
        with self.db.kv.read() as txn:
            return txn.get("archive_snapshots", _u64(slot)) is not None

    def _snapshot_slot_at_or_before(self, slot: int) -> int:
        with self.db.kv.read() as txn:
            found = next(txn.items("archive_snapshots", b"", _u64(slot + 1), reverse=True), None)
        return 0 if found is None else _int(found[0])

    def _canonical_blocks(self, start_slot: int, stop_slot: int) -> list[tuple[int, bytes]]:
        with self.db.kv.read() as txn:
            return [
                (_int(key), root)
                for key, root in txn.items("canonical", _u64(start_slot), _u64(stop_slot))
            ]

    def _replay(self, state: Any, signed_block: Any) -> Any:
        slot = int(signed_block.message.slot)
        try:
            return state_transition(self.spec, state, signed_block, verify_signatures=False)
        except (CaplinError, ValueError, IndexError, OverflowError) as error:
            raise StorageError(
                "replaying a stored canonical block failed; the datadir may be corrupt",
                slot=slot,
                error=error,
            ) from error

    def _cache_put(self, slot: int, state: Any) -> None:
        with self._cache_lock:
            self._cache[slot] = state.copy()
            self._cache.move_to_end(slot)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _encode(self, state: Any) -> bytes:
        fork = self.spec.fork_of(state)
        return bytes([int(fork)]) + bytes(cramjam.zstd.compress(state.encode_bytes(), ZSTD_LEVEL))

    def _decode(self, raw: bytes) -> Any:
        try:
            ssz = bytes(cramjam.zstd.decompress(raw[1:]))
            return self.spec.types(Fork(raw[0])).BeaconState.decode_bytes(ssz)
        except (ValueError, IndexError, cramjam.DecompressionError) as error:
            raise StorageError("stored restore point cannot be decoded", error=error) from error


def _roots_between(spec: Any, state: Any, start: int, stop: int) -> dict[bytes, int]:
    """Return {state root: slot} for slots start..stop-1, read from `state.state_roots`."""
    length = spec.SLOTS_PER_HISTORICAL_ROOT
    return {bytes(state.state_roots[slot % length]): slot for slot in range(start, stop)}


def open_history(
    db: BeaconDB,
    archive: bool,
    restore_point_interval: int = DEFAULT_RESTORE_POINT_INTERVAL,
) -> StateHistory:
    """Return the datadir's `StateHistory`, recording its mode on the first start.

    A datadir keeps the mode it started with. A datadir without a recorded mode takes the
    requested one while nothing was finalized yet, and `pruned` otherwise (its old states
    were never archived). `db.spec` must be set and the chain initialized. Finalized blocks
    that a crash left unarchived are archived (replayed) before it returns.

    Raises:
        StorageError: the requested mode differs from the datadir's, or a replayed block does
            not reach its stored state root.
    """
    requested = ARCHIVE if archive else PRUNED
    with db.kv.read() as txn:
        raw = txn.get("archive_meta", _MODE)
    stored = None if raw is None else raw.decode()
    if stored is None:
        stored = requested if db.pruned_slot() == 0 else PRUNED
        with db.kv.write() as txn:
            txn.put("archive_meta", _MODE, stored.encode())
    _check_mode(db, stored, requested)

    history = StateHistory(db, stored, restore_point_interval)
    if history.archive and not history.has_restore_point(0):
        genesis_root = db.canonical_root(0)
        genesis_state = None if genesis_root is None else db.state(genesis_root)
        if genesis_state is None:
            raise StorageError(
                "genesis state is missing, so archive mode cannot start; use a new datadir"
            )
        history.write_genesis(genesis_state)
    _log_mode(history)
    # A crash can leave finalized blocks unarchived: archive them before serving requests.
    history.update()
    return history


def _check_mode(db: BeaconDB, stored: str, requested: str) -> None:
    if stored == requested:
        return
    if stored == PRUNED:
        raise StorageError(
            "datadir is not an archive: states before its finalized slot were pruned; start "
            "without --caplin.archive, or with --caplin.archive=true on a new datadir",
            oldest_state_slot=db.pruned_slot(),
        )
    raise StorageError(
        "datadir is an archive; start with --caplin.archive=true, or use another datadir for a "
        "pruning node"
    )


def _log_mode(history: StateHistory) -> None:
    if history.archive:
        log.info(
            "archive mode: every finalized state is kept archived_slot=%d "
            "restore_point_interval=%d",
            history.archived_slot(),
            history.restore_point_interval,
        )
    else:
        log.info(
            "pruned mode: states before the finalized block are deleted oldest_state_slot=%d",
            history.finalized_slot(),
        )
