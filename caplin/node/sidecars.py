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
    While `replaying` is set (the restart replay of stored blocks, which were available
    when first imported), a fulu block needs only the columns stored with it.
    """

    def __init__(self, spec: Any, db: Any, pool: Any = None) -> None:
        self.spec = spec
        self.db = db
        self.pool = pool
        self.custody_columns: list[int] | None = None
        self.replaying = False
        self._offered: dict[bytes, dict[int, Any]] = {}
        # Roots whose offered sidecars this node built and checked itself (its proposals).
        self._own: set[bytes] = set()
        self._block: Any = None
        # The root and sidecars of the last block found available; imports run one at a time.
        self._found: tuple[bytes, list[Any]] = (b"", [])
        self._lock = threading.Lock()

    def offer(self, block_root: bytes, sidecars: Sequence[Any], own: bool = False) -> None:
        """Make `sidecars` of block `block_root` available to its import.

        `own` marks sidecars this node built and checked itself: all of them are stored
        with the block. Of other offers (range sync downloads) only those the availability
        check verified are. A later offer replaces an earlier one's sidecar of the same
        index, so one bad download does not block the block for good.
        """
        root = bytes(block_root)
        with self._lock:
            while len(self._offered) >= MAX_OFFERED_BLOCKS:
                # Offers of blocks that never imported; the oldest go first.
                oldest = next(iter(self._offered))
                del self._offered[oldest]
                self._own.discard(oldest)
            offered = self._offered.setdefault(root, {})
            offered.update((int(sidecar.index), sidecar) for sidecar in sidecars)
            if own:
                self._own.add(root)

    def discard_offers(self, block_root: bytes) -> None:
        """Drop the offered sidecars of `block_root` unless this node built them (its import
        failed, so they may be wrong)."""
        root = bytes(block_root)
        with self._lock:
            if root not in self._own:
                self._offered.pop(root, None)

    def expect_block(self, block: Any) -> None:
        self._block = block

    def take_found(self, block_root: bytes) -> list[Any]:
        """Return and forget the sidecars of `block_root` to store with it: those that made
        it available and, for our own block, every other one we built."""
        root = bytes(block_root)
        with self._lock:
            offered = self._offered.pop(root, {})
            own = root in self._own
            self._own.discard(root)
            found_root, sidecars = self._found
            self._found = (b"", [])
        if found_root != root:
            sidecars = []
        if own:
            indices = {int(sidecar.index) for sidecar in sidecars}
            sidecars = sidecars + [s for i, s in offered.items() if i not in indices]
        return sorted(sidecars, key=lambda sidecar: int(sidecar.index))

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
        if self.replaying:
            columns = [int(sidecar.index) for sidecar in self.db.sidecars(bytes(block_root))]
        else:
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
        if not columns or len(sidecars) < len(columns):
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
            offered = dict(self._offered.get(root, {}))
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
