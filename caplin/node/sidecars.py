"""The source of blob data for fork choice's data-availability check of the node's blocks.

`NodeAvailability` is the `AvailabilitySource` of the node's fork-choice store. It looks for
a block's sidecars among those offered for the block being imported (our own proposals),
those seen on gossip, and those stored with earlier blocks. The sidecars that made a block
available are written to the database with the block.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from forkchoice.availability import DataUnavailable

# Blocks whose offered sidecars are kept at once: two range-sync batches of 64 slots.
MAX_OFFERED_BLOCKS = 128


class NodeAvailability:
    """The node's `AvailabilitySource`: offered, gossiped and stored sidecars, in that order.

    `expect_block` names the block fork choice is importing, because the availability
    interface receives only its root but the result depends on its blob commitments.
    `custody_columns` are the columns this node must hold of each fulu block; None means
    all of them, as for a node without peers, which builds every column itself.
    """

    def __init__(self, spec: Any, db: Any, pool: Any = None) -> None:
        self.spec = spec
        self.db = db
        self.pool = pool
        self.custody_columns: list[int] | None = None
        self._offered: dict[bytes, list[Any]] = {}
        self._block: Any = None
        # The root and sidecars of the last block found available; imports run one at a time.
        self._found: tuple[bytes, list[Any]] = (b"", [])
        self._lock = threading.Lock()

    def offer(self, block_root: bytes, sidecars: Sequence[Any]) -> None:
        """Make `sidecars` of block `block_root` available to its import: our own block's,
        or those range sync downloaded with the block. Later offers add to earlier ones."""
        with self._lock:
            while len(self._offered) >= MAX_OFFERED_BLOCKS:
                # Offers of blocks that never imported; the oldest go first.
                del self._offered[next(iter(self._offered))]
            offered = self._offered.setdefault(bytes(block_root), [])
            known = {int(sidecar.index) for sidecar in offered}
            offered.extend(s for s in sidecars if int(s.index) not in known)

    def forget_offers(self) -> None:
        """Drop every offered sidecar (of blocks that did not import)."""
        with self._lock:
            self._offered.clear()

    def expect_block(self, block: Any) -> None:
        self._block = block

    def take_found(self, block_root: bytes) -> list[Any]:
        """Return and forget the sidecars of `block_root` to store with it: those that made
        it available, and every offered one (our own block's columns beyond our custody)."""
        with self._lock:
            offered = self._offered.pop(bytes(block_root), [])
            root, sidecars = self._found
            self._found = (b"", [])
        if root != bytes(block_root):
            sidecars = []
        indices = {int(sidecar.index) for sidecar in sidecars}
        extra = [sidecar for sidecar in offered if int(sidecar.index) not in indices]
        return sorted(sidecars + extra, key=lambda sidecar: int(sidecar.index))

    # --- AvailabilitySource ---------------------------------------------------------------

    def retrieve_blobs_and_proofs(self, block_root: bytes) -> tuple[list[Any], list[Any]]:
        count = self._commitment_count()
        if count == 0:
            return [], []
        sidecars = self._collect(bytes(block_root), range(count), self._pooled_blob)
        self._remember(block_root, sidecars)
        return [sidecar.blob for sidecar in sidecars], [sidecar.kzg_proof for sidecar in sidecars]

    def retrieve_column_sidecars(self, block_root: bytes) -> list[Any]:
        if self._commitment_count() == 0:
            return []
        columns = self.custody_columns
        if columns is None:
            columns = list(range(int(self.spec.NUMBER_OF_COLUMNS)))
        # A column of other commitments (from a faulty or hostile peer) is not this block's.
        commitments = list(self._block.body.blob_kzg_commitments)
        sidecars = [
            sidecar
            for sidecar in self._collect(bytes(block_root), columns, self._pooled_column)
            if list(sidecar.kzg_commitments) == commitments
        ]
        if len(sidecars) < len(columns):
            raise DataUnavailable(f"{len(sidecars)} of {len(columns)} custody columns found")
        self._remember(block_root, sidecars)
        return sidecars

    # --- lookups ----------------------------------------------------------------------------

    def _commitment_count(self) -> int:
        block = self._block
        return 0 if block is None else len(block.body.blob_kzg_commitments)

    def _collect(self, root: bytes, indices: Any, pooled: Any) -> list[Any]:
        """Return the sidecars of `root` at `indices` that can be found, in index order."""
        with self._lock:
            offered = {int(sidecar.index): sidecar for sidecar in self._offered.get(root, ())}
        stored: dict[int, Any] | None = None
        found = []
        for index in indices:
            sidecar = offered.get(index)
            if sidecar is None:
                sidecar = pooled(root, index)
            if sidecar is None:
                if stored is None:
                    stored = {int(s.index): s for s in self.db.sidecars(root)}
                sidecar = stored.get(index)
            if sidecar is not None:
                found.append(sidecar)
        return found

    def _pooled_blob(self, root: bytes, index: int) -> Any:
        return None if self.pool is None else self.pool.blob_sidecar(root, index)

    def _pooled_column(self, root: bytes, index: int) -> Any:
        return None if self.pool is None else self.pool.data_column_sidecar(root, index)

    def _remember(self, block_root: bytes, sidecars: list[Any]) -> None:
        with self._lock:
            self._found = (bytes(block_root), sidecars)
