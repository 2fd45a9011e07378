"""Blob sidecars: built for a block the node proposes, and read back into blobs.

Deneb and electra blocks carry their blobs in `BlobSidecar`s, one per blob commitment. Fulu
blocks carry them in `DataColumnSidecar`s: each blob is extended to `CELLS_PER_EXT_BLOB`
cells and column `i` holds cell `i` of every blob, with its KZG proof.
"""

from collections.abc import Sequence
from typing import Any

from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.merkle import (
    compute_merkle_proof,
    get_generalized_index,
    get_subtree_index,
    is_valid_merkle_branch,
)
from caplin.peerdas import (
    compute_signed_block_header,
    get_data_column_sidecars_from_block,
    verify_kzg_commitments_inclusion_proof,
)
from forkchoice.availability import verify_data_column_sidecars_kzg_proofs


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
    block. Its cell proofs come from `cell_proofs` (`CELLS_PER_EXT_BLOB` per blob, as
    EIP-7594 transactions carry them) when given, and are computed from the blobs when
    not.
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


def sidecar_matches_block(spec: Any, sidecar: Any, signed_block: Any) -> bool:
    """Return whether `sidecar` belongs to `signed_block`: its header is the block's signed
    header and its commitments are proven to be the block's by the inclusion proof."""
    block = signed_block.message
    header = sidecar.signed_block_header
    if bytes(header.message.hash_tree_root()) != bytes(block.hash_tree_root()):
        return False
    if bytes(header.signature) != bytes(signed_block.signature):
        return False
    commitments = block.body.blob_kzg_commitments
    body_root = bytes(block.body.hash_tree_root())
    if hasattr(sidecar, "column"):
        return list(sidecar.kzg_commitments) == list(commitments) and (
            verify_kzg_commitments_inclusion_proof(
                spec, sidecar.kzg_commitments, sidecar.kzg_commitments_inclusion_proof, body_root
            )
        )
    index = int(sidecar.index)
    if index >= len(commitments) or bytes(sidecar.kzg_commitment) != bytes(commitments[index]):
        return False
    gindex = get_generalized_index(type(block.body), "blob_kzg_commitments", index)
    return is_valid_merkle_branch(
        bytes(sidecar.kzg_commitment.hash_tree_root()),
        [bytes(node) for node in sidecar.kzg_commitment_inclusion_proof],
        int(spec.KZG_COMMITMENT_INCLUSION_PROOF_DEPTH),
        get_subtree_index(gindex),
        body_root,
    )


def verify_sidecar_proofs(sidecars: Sequence[Any]) -> bool:
    """Check the KZG proofs of blob sidecars, or of every cell of data column sidecars, in
    one batch."""
    if not sidecars:
        return True
    if hasattr(sidecars[0], "column"):
        return verify_data_column_sidecars_kzg_proofs(sidecars)
    return kzg.verify_blob_kzg_proof_batch(
        [bytes(sidecar.blob) for sidecar in sidecars],
        [bytes(sidecar.kzg_commitment) for sidecar in sidecars],
        [bytes(sidecar.kzg_proof) for sidecar in sidecars],
    )
