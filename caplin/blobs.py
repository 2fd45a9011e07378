"""Blob sidecars: built for a block the node proposes, and read back into blobs.

Deneb and electra blocks carry their blobs in `BlobSidecar`s, one per blob commitment. Fulu
blocks carry them in `DataColumnSidecar`s: each blob is extended to `CELLS_PER_EXT_BLOB`
cells and column `i` holds cell `i` of every blob, with its KZG proof.
"""

from collections.abc import Sequence
from typing import Any

from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.merkle import compute_merkle_proof, get_generalized_index
from caplin.peerdas import compute_signed_block_header, get_data_column_sidecars_from_block


def build_sidecars(
    spec: Any,
    signed_block: Any,
    blobs: Sequence[bytes],
    proofs: Sequence[bytes],
    cell_proofs: Sequence[bytes] = (),
) -> list[Any]:
    """Return the sidecars of our own `signed_block`, whose commitments are those of `blobs`.

    Before fulu, `proofs` contains one blob KZG proof per blob and the result is one
    `BlobSidecar` per blob. From fulu on the result is every `DataColumnSidecar` of the
    block; `cell_proofs` (`CELLS_PER_EXT_BLOB` per blob, as EIP-7594 transactions carry
    them) saves computing the proofs again, and without them the cells and proofs are
    computed from the blobs.
    """
    block = signed_block.message
    commitments = [bytes(commitment) for commitment in block.body.blob_kzg_commitments]
    if len(blobs) != len(commitments):
        raise ValueError(f"{len(blobs)} blobs for {len(commitments)} blob commitments")
    if not commitments:
        return []
    fork = spec.fork_of(block)
    if fork >= Fork.FULU:
        return get_data_column_sidecars_from_block(
            spec, signed_block, _cells_and_proofs(spec, blobs, cell_proofs)
        )
    if len(proofs) != len(commitments):
        raise ValueError(f"{len(proofs)} blob proofs for {len(commitments)} blob commitments")
    types = spec.types(fork)
    header = compute_signed_block_header(spec, signed_block)
    body_type = type(block.body)
    sidecars = []
    for index, (blob, commitment, proof) in enumerate(zip(blobs, commitments, proofs, strict=True)):
        gindex = get_generalized_index(body_type, "blob_kzg_commitments", index)
        sidecars.append(
            types.BlobSidecar(
                index=index,
                blob=blob,
                kzg_commitment=commitment,
                kzg_proof=proof,
                signed_block_header=header,
                kzg_commitment_inclusion_proof=compute_merkle_proof(block.body, gindex),
            )
        )
    return sidecars


def _cells_and_proofs(
    spec: Any, blobs: Sequence[bytes], cell_proofs: Sequence[bytes]
) -> list[tuple[list[bytes], list[bytes]]]:
    per_blob = int(spec.CELLS_PER_EXT_BLOB)
    if len(cell_proofs) == per_blob * len(blobs):
        return [
            (kzg.compute_cells(bytes(blob)), list(cell_proofs[i * per_blob : (i + 1) * per_blob]))
            for i, blob in enumerate(blobs)
        ]
    return [kzg.compute_cells_and_kzg_proofs(bytes(blob)) for blob in blobs]


def blobs_of(spec: Any, block: Any, sidecars: Sequence[Any]) -> list[bytes] | None:
    """Return the blobs of `block` from its sidecars, in commitment order; None when missing.

    From fulu on a blob is the first half of its extended cells, so columns 0 to
    `CELLS_PER_EXT_BLOB / 2 - 1` hold all of it.
    """
    count = len(block.body.blob_kzg_commitments)
    if spec.fork_of(block) < Fork.FULU:
        by_index = {int(sidecar.index): bytes(sidecar.blob) for sidecar in sidecars}
        if any(index not in by_index for index in range(count)):
            return None
        return [by_index[index] for index in range(count)]
    half = int(spec.CELLS_PER_EXT_BLOB) // 2
    columns = {int(sidecar.index): sidecar for sidecar in sidecars}
    if any(index not in columns for index in range(half)):
        # NOTE: recovering blobs from any half of the columns is not implemented.
        return None
    return [
        b"".join(bytes(columns[index].column[row]) for index in range(half)) for row in range(count)
    ]
