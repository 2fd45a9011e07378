"""Data-availability checks of `on_block`: deneb blobs and fulu data columns.

Where the sidecars come from is up to the node (gossip, req/resp, a
database); the store asks an `AvailabilitySource` for them. The default
source has nothing, which the spec's stubs also return: no blobs and no
proofs (deneb), and no columns (fulu).
"""

from collections.abc import Sequence
from typing import Any, Protocol

from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.errors import CryptoError
from caplin.transition.helpers import compute_epoch_at_slot, get_blob_parameters


class AvailabilitySource(Protocol):
    """Where the store finds the blobs or data columns of a block."""

    def retrieve_blobs_and_proofs(self, block_root: bytes) -> tuple[Sequence[Any], Sequence[Any]]:
        """Return the blobs and KZG proofs of the block (deneb and electra)."""
        ...

    def retrieve_column_sidecars(self, block_root: bytes) -> Sequence[Any]:
        """Return the sampled `DataColumnSidecar`s of the block (fulu).

        Raises:
            DataUnavailable: the node could not sample enough columns.
        """
        ...


class DataUnavailable(Exception):
    """Raised by an `AvailabilitySource` that cannot supply a block's sidecars."""


class NoSidecars:
    """A source with no sidecars at all (the spec's default stubs)."""

    def retrieve_blobs_and_proofs(self, block_root: bytes) -> tuple[Sequence[Any], Sequence[Any]]:
        return [], []

    def retrieve_column_sidecars(self, block_root: bytes) -> Sequence[Any]:
        return []


def is_data_available(spec: Any, source: AvailabilitySource, block_root: bytes, block: Any) -> bool:
    """Return whether the blob data of `block` is available and matches its commitments.

    Blocks before deneb carry no blob data and are always available.
    """
    fork = spec.fork_of(block)
    if fork < Fork.DENEB:
        return True
    try:
        if fork >= Fork.FULU:
            # Fulu: the sampled column sidecars. Each one's shape is checked on its own, and
            # their cell proofs in one batch, which gives the same verdict as one batch per
            # column (up to the batch's negligible soundness error) in a fraction of the time.
            sidecars = source.retrieve_column_sidecars(block_root)
            if not all(verify_data_column_sidecar(spec, sidecar) for sidecar in sidecars):
                return False
            return verify_data_column_sidecars_kzg_proofs(sidecars)
        blobs, proofs = source.retrieve_blobs_and_proofs(block_root)
        commitments = [bytes(commitment) for commitment in block.body.blob_kzg_commitments]
        if not len(blobs) == len(commitments) == len(proofs):
            return False
        if not commitments:
            return True  # an empty batch is valid, and needs no trusted setup
        return kzg.verify_blob_kzg_proof_batch(
            [bytes(blob) for blob in blobs], commitments, [bytes(proof) for proof in proofs]
        )
    except (DataUnavailable, CryptoError):
        return False


def verify_data_column_sidecar(spec: Any, sidecar: Any) -> bool:
    """Check the shape of a `DataColumnSidecar`: index range, blob count and list lengths."""
    if int(sidecar.index) >= spec.NUMBER_OF_COLUMNS:
        return False
    commitments = len(sidecar.kzg_commitments)
    if commitments == 0:
        return False
    epoch = compute_epoch_at_slot(spec, int(sidecar.signed_block_header.message.slot))
    _, max_blobs_per_block = get_blob_parameters(spec, epoch)
    if commitments > max_blobs_per_block:
        return False
    return len(sidecar.column) == commitments == len(sidecar.kzg_proofs)


def verify_data_column_sidecars_kzg_proofs(sidecars: Any) -> bool:
    """Check the KZG proof of every cell of every column in `sidecars`, in one batch."""
    commitments, indices, cells, proofs = [], [], [], []
    for sidecar in sidecars:
        # The column index is the cell index in every row.
        for commitment, cell, proof in zip(
            sidecar.kzg_commitments, sidecar.column, sidecar.kzg_proofs, strict=True
        ):
            commitments.append(bytes(commitment))
            indices.append(int(sidecar.index))
            cells.append(bytes(cell))
            proofs.append(bytes(proof))
    if not cells:
        return True
    return kzg.verify_cell_kzg_proof_batch(commitments, indices, cells, proofs)
