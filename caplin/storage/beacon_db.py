"""The beacon chain database: blocks, states and fork-choice pointers on the KV interface.

Tables (every integer key is 8 bytes big-endian, so keys sort by slot):

- `meta`: schema version, genesis validators root, chain parameters, head root, justified and
  finalized checkpoints, the anchor block fork choice restarts from, the last pruned slot;
- `blocks`: block root -> fork byte ++ SSZ `SignedBeaconBlock`;
- `block_slots`: slot ++ block root -> empty, every stored block by slot;
- `canonical`: slot -> block root of the finalized chain;
- `states`: block root -> fork byte ++ SSZ `BeaconState`, the post-state of that block, kept
  for epoch-boundary blocks and finalized checkpoint blocks;
- `sidecars`: block root ++ index -> fork byte ++ SSZ sidecar: the `BlobSidecar`s (deneb,
  electra) or `DataColumnSidecar`s (fulu, index = column) that made the block available.

`apply` writes everything one imported block changes in a single transaction, so a crash
leaves the database at the previous block or at this one, never in between.
"""

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from caplin.config.forks import Fork
from caplin.errors import MapGrownError, StorageError
from caplin.storage import KVStore, open_store

SCHEMA_VERSION = 1
# The archive_* tables belong to `caplin.storage.archive`.
TABLES = [
    "meta",
    "blocks",
    "block_slots",
    "canonical",
    "states",
    "sidecars",
    "archive_meta",
    "archive_snapshots",
    "archive_roots",
]

_SCHEMA = b"schema_version"
_GENESIS_ROOT = b"genesis_validators_root"
_CHAIN = b"chain"
_HEAD = b"head"
_JUSTIFIED = b"justified"
_FINALIZED = b"finalized"
_ANCHOR = b"anchor"
_PRUNED_SLOT = b"pruned_slot"
_SIDECARS_PRUNED_SLOT = b"sidecars_pruned_slot"


def _u64(value: int) -> bytes:
    return int(value).to_bytes(8, "big")


def _sidecar_type(raw: bytes) -> str:
    """Return the type name of a stored sidecar from its fork byte."""
    return "DataColumnSidecar" if raw[0] >= int(Fork.FULU) else "BlobSidecar"


def _after_sidecars(root: bytes) -> bytes:
    """Return a key above every `sidecars` key of block `root` (root ++ 8-byte index)."""
    return root + b"\xff" * 9


def _checkpoint(value: bytes | None) -> tuple[int, bytes] | None:
    if value is None:
        return None
    return int.from_bytes(value[:8], "big"), value[8:]


@dataclass
class BlockWrite:
    """Everything one block import changes, written atomically by `BeaconDB.apply`.

    `block`, `head`, `justified` and `finalized` are written when set, and `state` (the
    post-state of block `root`) too. `finalized_state` is the post-state
    of the new finalized checkpoint block, with `anchor_root` its root. `canonical` maps
    slots of the newly finalized chain to their block roots, and `prune` lists
    (slot, root) of blocks that conflict with finality.
    """

    root: bytes
    block: Any = None
    head: bytes | None = None
    justified: tuple[int, bytes] | None = None
    finalized: tuple[int, bytes] | None = None
    state: Any = None
    anchor_root: bytes | None = None
    finalized_state: Any = None
    canonical: dict[int, bytes] = field(default_factory=dict)
    prune: list[tuple[int, bytes]] = field(default_factory=list)
    pruned_slot: int | None = None
    # The blob or data column sidecars of `block`, written with it.
    sidecars: list[Any] = field(default_factory=list)


LOCK_FILE = "caplin.lock"


def _lock_directory(path: Path) -> int:
    """Take an exclusive flock on `path/caplin.lock` and return its file descriptor.

    LMDB lets several processes open one environment, so without this lock a second node on
    the same datadir would import and propose blocks next to the first one.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise StorageError(
            "database is in use by another process; stop that node or use another --datadir",
            path=str(path),
            pid=holder,
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


class BeaconDB:
    """Typed access to a beacon database; `spec` must be set before blocks or states are read."""

    def __init__(self, store: KVStore, spec: Any = None) -> None:
        self.kv = store
        self.spec = spec
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, path: str | Path, engine: str = "lmdb") -> "BeaconDB":
        """Open or create the database under `path` with the `lmdb` or `leveldb` engine.

        Raises:
            StorageError: another process (or another open `BeaconDB`) has the database open.
        """
        lock_fd = _lock_directory(Path(path))
        try:
            db = cls(open_store(path, TABLES, engine))
        except BaseException:
            os.close(lock_fd)
            raise
        db._lock_fd = lock_fd
        return db

    def close(self) -> None:
        self.kv.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- chain identity ----------------------------------------------------------------

    def is_empty(self) -> bool:
        with self.kv.read() as txn:
            return txn.get("meta", _SCHEMA) is None

    def chain_parameters(self) -> dict[str, Any] | None:
        """Return the parameters the chain was created with (see `initialize`), or None."""
        with self.kv.read() as txn:
            raw = txn.get("meta", _CHAIN)
        return None if raw is None else json.loads(raw)

    def check_schema(self) -> None:
        """Raise StorageError when the database was written by a newer schema version."""
        with self.kv.read() as txn:
            raw = txn.get("meta", _SCHEMA)
        if raw is None:
            return
        stored = int.from_bytes(raw, "big")
        if stored > SCHEMA_VERSION:
            raise StorageError(
                "datadir was written by a newer caplin; upgrade caplin or use another datadir",
                stored_schema_version=stored,
                supported_schema_version=SCHEMA_VERSION,
            )

    def check_genesis(self, genesis_validators_root: bytes) -> None:
        """Raise StorageError when the database contains another chain."""
        with self.kv.read() as txn:
            stored = txn.get("meta", _GENESIS_ROOT)
        if stored is not None and stored != genesis_validators_root:
            raise StorageError(
                "datadir contains another chain; use another datadir or remove this one",
                stored_genesis_validators_root="0x" + stored.hex(),
                expected_genesis_validators_root="0x" + genesis_validators_root.hex(),
            )

    def initialize(
        self, parameters: dict[str, Any], genesis_block: Any, genesis_state: Any
    ) -> None:
        """Write a new chain: its parameters, genesis block and genesis state."""
        root = bytes(genesis_block.message.hash_tree_root())
        with self.kv.write() as txn:
            txn.put("meta", _SCHEMA, _u64(SCHEMA_VERSION))
            txn.put("meta", _GENESIS_ROOT, bytes(genesis_state.genesis_validators_root))
            txn.put("meta", _CHAIN, json.dumps(parameters, sort_keys=True).encode())
            txn.put("meta", _HEAD, root)
            txn.put("meta", _JUSTIFIED, _u64(0) + root)
            txn.put("meta", _FINALIZED, _u64(0) + root)
            txn.put("meta", _ANCHOR, root)
            txn.put("meta", _PRUNED_SLOT, _u64(0))
            self._put_block(txn, root, genesis_block)
            txn.put("canonical", _u64(0), root)
            txn.put("states", root, self._encode(genesis_state))

    # --- writes ------------------------------------------------------------------------

    def apply(self, write: BlockWrite) -> None:
        """Write one imported block and what it changed, in one transaction.

        A write that found the LMDB map full is retried once after the map grew.
        """
        self.apply_many([write])

    def apply_many(self, writes: list[BlockWrite]) -> None:
        """Apply `writes` in order in one transaction (a range-sync batch, for example)."""
        try:
            self._apply(writes)
        except MapGrownError:
            self._apply(writes)

    def _apply(self, writes: list[BlockWrite]) -> None:
        with self.kv.write() as txn:
            for write in writes:
                self._apply_one(txn, write)

    def _apply_one(self, txn: Any, write: BlockWrite) -> None:
        if write.block is not None:
            self._put_block(txn, write.root, write.block)
            if write.sidecars:
                fork = bytes([int(self.spec.fork_of(write.block))])
                for sidecar in write.sidecars:
                    key = write.root + _u64(int(sidecar.index))
                    txn.put("sidecars", key, fork + sidecar.encode_bytes())
        if write.state is not None:
            txn.put("states", write.root, self._encode(write.state))
        if write.head is not None:
            txn.put("meta", _HEAD, write.head)
        if write.justified is not None:
            txn.put("meta", _JUSTIFIED, _u64(write.justified[0]) + write.justified[1])
        if write.finalized is not None:
            txn.put("meta", _FINALIZED, _u64(write.finalized[0]) + write.finalized[1])
        if write.anchor_root is not None:
            txn.put("states", write.anchor_root, self._encode(write.finalized_state))
            txn.put("meta", _ANCHOR, write.anchor_root)
        for slot, root in write.canonical.items():
            txn.put("canonical", _u64(slot), root)
        for slot, root in write.prune:
            txn.delete("blocks", root)
            txn.delete("block_slots", _u64(slot) + root)
            txn.delete("states", root)
            for key, _ in list(txn.items("sidecars", root, _after_sidecars(root))):
                txn.delete("sidecars", key)
        if write.pruned_slot is not None:
            txn.put("meta", _PRUNED_SLOT, _u64(write.pruned_slot))

    def _put_block(self, txn: Any, root: bytes, signed_block: Any) -> None:
        txn.put("blocks", root, self._encode(signed_block))
        txn.put("block_slots", _u64(int(signed_block.message.slot)) + root, b"")

    def _encode(self, value: Any) -> bytes:
        return bytes([int(self.spec.fork_of(value))]) + value.encode_bytes()

    # --- reads -------------------------------------------------------------------------

    def block(self, root: bytes) -> Any:
        """Return the `SignedBeaconBlock` with this root, or None."""
        with self.kv.read() as txn:
            raw = txn.get("blocks", root)
        return None if raw is None else self._decode(raw, "SignedBeaconBlock")

    def state(self, root: bytes) -> Any:
        """Return the stored post-state of block `root`, or None."""
        with self.kv.read() as txn:
            raw = txn.get("states", root)
        return None if raw is None else self._decode(raw, "BeaconState")

    def sidecars(self, root: bytes) -> list[Any]:
        """Return the stored sidecars of block `root` in index order (empty when none are)."""
        with self.kv.read() as txn:
            raws = [raw for _, raw in txn.items("sidecars", root, _after_sidecars(root))]
        return [self._decode(raw, _sidecar_type(raw)) for raw in raws]

    def has_block(self, root: bytes) -> bool:
        with self.kv.read() as txn:
            return txn.get("blocks", root) is not None

    def _decode(self, raw: bytes, name: str) -> Any:
        try:
            fork = Fork(raw[0])
            return getattr(self.spec.types(fork), name).decode_bytes(raw[1:])
        except (ValueError, IndexError) as error:
            raise StorageError("stored value cannot be decoded", kind=name, error=error) from error

    def block_slots(
        self, start_slot: int = 0, stop_slot: int | None = None
    ) -> Iterator[tuple[int, bytes]]:
        """Yield (slot, root) of every stored block with start_slot <= slot < stop_slot."""
        stop = None if stop_slot is None else _u64(stop_slot)
        with self.kv.read() as txn:
            for key, _ in txn.items("block_slots", _u64(start_slot), stop):
                yield int.from_bytes(key[:8], "big"), key[8:]

    def block_roots_at_slot(self, slot: int) -> list[bytes]:
        return [root for _, root in self.block_slots(slot, slot + 1)]

    def canonical_root(self, slot: int) -> bytes | None:
        """Return the finalized-chain block root at `slot` (None for an empty or later slot)."""
        with self.kv.read() as txn:
            return txn.get("canonical", _u64(slot))

    def head_root(self) -> bytes | None:
        with self.kv.read() as txn:
            return txn.get("meta", _HEAD)

    def justified(self) -> tuple[int, bytes] | None:
        with self.kv.read() as txn:
            return _checkpoint(txn.get("meta", _JUSTIFIED))

    def finalized(self) -> tuple[int, bytes] | None:
        with self.kv.read() as txn:
            return _checkpoint(txn.get("meta", _FINALIZED))

    def anchor_root(self) -> bytes | None:
        """Return the root of the block fork choice restarts from (the last finalized block)."""
        with self.kv.read() as txn:
            return txn.get("meta", _ANCHOR)

    def sidecar(self, root: bytes, index: int) -> Any | None:
        """Return the stored sidecar of block `root` at `index` (a blob index or a column)."""
        with self.kv.read() as txn:
            raw = txn.get("sidecars", root + _u64(index))
        if raw is None:
            return None
        return self._decode(raw, _sidecar_type(raw))

    def prune_sidecars(self, before_slot: int) -> int:
        """Delete the sidecars of every block below `before_slot`, in one transaction, and
        return how many were deleted. Blocks below the previous call's slot are not read
        again."""
        deleted = 0
        with self.kv.write() as txn:
            raw = txn.get("meta", _SIDECARS_PRUNED_SLOT)
            start = 0 if raw is None else int.from_bytes(raw, "big")
            if before_slot <= start:
                return 0
            roots = [key[8:] for key, _ in txn.items("block_slots", _u64(start), _u64(before_slot))]
            for root in roots:
                for key, _ in list(txn.items("sidecars", root, _after_sidecars(root))):
                    txn.delete("sidecars", key)
                    deleted += 1
            txn.put("meta", _SIDECARS_PRUNED_SLOT, _u64(before_slot))
        return deleted

    def pruned_slot(self) -> int:
        with self.kv.read() as txn:
            raw = txn.get("meta", _PRUNED_SLOT)
        return 0 if raw is None else int.from_bytes(raw, "big")
