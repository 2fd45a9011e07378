"""PeerDAS (Fulu, EIP-7594): custody groups, the cell matrix and data column sidecars.

Blobs are extended with Reed-Solomon coding to `CELLS_PER_EXT_BLOB` cells each;
column `i` of the matrix is cell `i` of every blob of a block. Nodes custody
whole custody groups (each a fixed set of columns) chosen from their node id,
and receive columns as `DataColumnSidecar`s on one gossip subnet per column.

Every function takes the `ChainSpec` first, as the state transition does.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from caplin.config.constants import UINT256_MAX
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.errors import CryptoError
from caplin.merkle import (
    compute_merkle_proof,
    get_generalized_index,
    get_subtree_index,
    is_valid_merkle_branch,
)


@dataclass(frozen=True)
class BlobParameters:
    """The blob limit in force from `epoch` on (EIP-7892 blob parameter only forks)."""

    epoch: int
    max_blobs_per_block: int


def get_blob_parameters(spec: Any, epoch: int) -> BlobParameters:
    """Return the blob parameters of `epoch`: the latest `BLOB_SCHEDULE` entry at or before it.

    Before the first entry the Electra limit applies.
    """
    schedule = sorted(spec.BLOB_SCHEDULE, key=lambda entry: int(entry["EPOCH"]), reverse=True)
    for entry in schedule:
        if epoch >= int(entry["EPOCH"]):
            return BlobParameters(int(entry["EPOCH"]), int(entry["MAX_BLOBS_PER_BLOCK"]))
    return BlobParameters(int(spec.ELECTRA_FORK_EPOCH), int(spec.MAX_BLOBS_PER_BLOCK_ELECTRA))


# --- custody ---------------------------------------------------------------------------------


def get_custody_groups(spec: Any, node_id: int, custody_group_count: int) -> list[int]:
    """Return the sorted custody groups of `node_id` when it custodies `custody_group_count`.

    Groups are drawn by hashing consecutive ids starting at `node_id` (wrapping at
    2**256), so a larger count extends the list of a smaller one. Raises
    `ValueError` when the count exceeds `NUMBER_OF_CUSTODY_GROUPS`.
    """
    group_count = int(spec.NUMBER_OF_CUSTODY_GROUPS)
    if not 0 <= custody_group_count <= group_count:
        raise ValueError(f"custody group count {custody_group_count} is outside 0..{group_count}")
    if custody_group_count == group_count:
        return list(range(group_count))

    current_id = int(node_id)
    groups: set[int] = set()
    while len(groups) < custody_group_count:
        digest = sha256(current_id.to_bytes(32, "little"))
        groups.add(int.from_bytes(digest[:8], "little") % group_count)
        current_id = 0 if current_id == UINT256_MAX else current_id + 1
    return sorted(groups)


def compute_columns_for_custody_group(spec: Any, custody_group: int) -> list[int]:
    """Return the column indices that belong to `custody_group`.

    Raises `ValueError` for a group outside `NUMBER_OF_CUSTODY_GROUPS`.
    """
    group_count = int(spec.NUMBER_OF_CUSTODY_GROUPS)
    if not 0 <= custody_group < group_count:
        raise ValueError(f"custody group {custody_group} is outside 0..{group_count - 1}")
    columns_per_group = int(spec.NUMBER_OF_COLUMNS) // group_count
    return [group_count * index + custody_group for index in range(columns_per_group)]


def get_custody_columns(spec: Any, node_id: int, custody_group_count: int) -> list[int]:
    """Return the sorted columns a node with `node_id` custodies."""
    columns: list[int] = []
    for group in get_custody_groups(spec, node_id, custody_group_count):
        columns.extend(compute_columns_for_custody_group(spec, group))
    return sorted(columns)


def get_sampling_size(spec: Any, custody_group_count: int) -> int:
    """Return how many custody groups a node samples each slot."""
    return max(int(spec.SAMPLES_PER_SLOT), custody_group_count)


def get_validators_custody_requirement(
    spec: Any, state: Any, validator_indices: Sequence[int]
) -> int:
    """Return the custody group count owed by a node running `validator_indices`."""
    total_balance = sum(
        int(state.validators[index].effective_balance) for index in validator_indices
    )
    count = total_balance // int(spec.BALANCE_PER_ADDITIONAL_CUSTODY_GROUP)
    count = max(count, int(spec.VALIDATOR_CUSTODY_REQUIREMENT))
    return min(count, int(spec.NUMBER_OF_CUSTODY_GROUPS))


def compute_subnet_for_data_column_sidecar(spec: Any, column_index: int) -> int:
    """Return the gossip subnet that carries column `column_index`."""
    return int(column_index) % int(spec.DATA_COLUMN_SIDECAR_SUBNET_COUNT)


def compute_max_request_data_column_sidecars(spec: Any) -> int:
    """Return the maximum number of sidecars one req/resp request may ask for."""
    return int(spec.MAX_REQUEST_BLOCKS_DENEB) * int(spec.NUMBER_OF_COLUMNS)


# --- the cell matrix -------------------------------------------------------------------------


def compute_matrix(spec: Any, blobs: Sequence[bytes]) -> list[Any]:
    """Extend `blobs` and return every cell of the matrix as a `MatrixEntry`, row by row."""
    from caplin.crypto import kzg

    types = spec.types(Fork.FULU)
    matrix = []
    for row_index, blob in enumerate(blobs):
        cells, proofs = kzg.compute_cells_and_kzg_proofs(bytes(blob))
        for column_index, (cell, proof) in enumerate(zip(cells, proofs, strict=True)):
            matrix.append(
                types.MatrixEntry(
                    cell=cell, kzg_proof=proof, column_index=column_index, row_index=row_index
                )
            )
    return matrix


def recover_matrix(spec: Any, partial_matrix: Sequence[Any], blob_count: int) -> list[Any]:
    """Recover the full matrix of `blob_count` rows from at least half the cells of each row.

    Raises the KZG library's error when a row has too few cells.
    """
    from caplin.crypto import kzg

    types = spec.types(Fork.FULU)
    matrix = []
    for row_index in range(blob_count):
        row = [entry for entry in partial_matrix if int(entry.row_index) == row_index]
        cell_indices = [int(entry.column_index) for entry in row]
        cells = [bytes(entry.cell) for entry in row]
        recovered_cells, recovered_proofs = kzg.recover_cells_and_kzg_proofs(cell_indices, cells)
        for column_index, (cell, proof) in enumerate(
            zip(recovered_cells, recovered_proofs, strict=True)
        ):
            matrix.append(
                types.MatrixEntry(
                    cell=cell, kzg_proof=proof, column_index=column_index, row_index=row_index
                )
            )
    return matrix


# --- sidecars --------------------------------------------------------------------------------


def blob_kzg_commitments_gindex(spec: Any) -> int:
    """Return the gindex of `blob_kzg_commitments` in the Fulu `BeaconBlockBody`."""
    return get_generalized_index(spec.types(Fork.FULU).BeaconBlockBody, "blob_kzg_commitments")


def compute_signed_block_header(spec: Any, signed_block: Any) -> Any:
    """Return the `SignedBeaconBlockHeader` of `signed_block` (body replaced by its root)."""
    block = signed_block.message
    types = spec.types(spec.fork_of(block))
    header = types.BeaconBlockHeader(
        slot=block.slot,
        proposer_index=block.proposer_index,
        parent_root=block.parent_root,
        state_root=block.state_root,
        body_root=block.body.hash_tree_root(),
    )
    return types.SignedBeaconBlockHeader(message=header, signature=signed_block.signature)


def get_data_column_sidecars(
    spec: Any,
    signed_block_header: Any,
    kzg_commitments: Any,
    kzg_commitments_inclusion_proof: Sequence[bytes],
    cells_and_kzg_proofs: Sequence[tuple[Sequence[bytes], Sequence[bytes]]],
) -> list[Any]:
    """Assemble the `NUMBER_OF_COLUMNS` sidecars of a block from each blob's cells and proofs.

    Raises `ValueError` when the cell lists do not match the commitments.
    """
    if len(cells_and_kzg_proofs) != len(kzg_commitments):
        raise ValueError(
            f"{len(cells_and_kzg_proofs)} blobs of cells for {len(kzg_commitments)} commitments"
        )
    types = spec.types(Fork.FULU)
    sidecars = []
    for column_index in range(int(spec.NUMBER_OF_COLUMNS)):
        column = [cells[column_index] for cells, _ in cells_and_kzg_proofs]
        proofs = [proofs[column_index] for _, proofs in cells_and_kzg_proofs]
        sidecars.append(
            types.DataColumnSidecar(
                index=column_index,
                column=column,
                kzg_commitments=kzg_commitments,
                kzg_proofs=proofs,
                signed_block_header=signed_block_header,
                kzg_commitments_inclusion_proof=list(kzg_commitments_inclusion_proof),
            )
        )
    return sidecars


def get_data_column_sidecars_from_block(
    spec: Any,
    signed_block: Any,
    cells_and_kzg_proofs: Sequence[tuple[Sequence[bytes], Sequence[bytes]]],
) -> list[Any]:
    """Assemble the sidecars of `signed_block`, proving its commitments against the body root."""
    body = signed_block.message.body
    proof = compute_merkle_proof(body, blob_kzg_commitments_gindex(spec))
    return get_data_column_sidecars(
        spec,
        compute_signed_block_header(spec, signed_block),
        body.blob_kzg_commitments,
        proof,
        cells_and_kzg_proofs,
    )


def get_data_column_sidecars_from_column_sidecar(
    spec: Any,
    sidecar: Any,
    cells_and_kzg_proofs: Sequence[tuple[Sequence[bytes], Sequence[bytes]]],
) -> list[Any]:
    """Assemble every sidecar of a block from one of its sidecars and the recovered cells."""
    return get_data_column_sidecars(
        spec,
        sidecar.signed_block_header,
        sidecar.kzg_commitments,
        list(sidecar.kzg_commitments_inclusion_proof),
        cells_and_kzg_proofs,
    )


def verify_data_column_sidecar(spec: Any, sidecar: Any) -> bool:
    """Check the sidecar's index, commitment count and list lengths (no cryptography)."""
    if int(sidecar.index) >= int(spec.NUMBER_OF_COLUMNS):
        return False
    commitment_count = len(sidecar.kzg_commitments)
    if commitment_count == 0:
        return False
    epoch = int(sidecar.signed_block_header.message.slot) // int(spec.SLOTS_PER_EPOCH)
    if commitment_count > get_blob_parameters(spec, epoch).max_blobs_per_block:
        return False
    return len(sidecar.column) == commitment_count and len(sidecar.kzg_proofs) == commitment_count


def verify_data_column_sidecar_kzg_proofs(spec: Any, sidecar: Any) -> bool:
    """Batch-verify every cell of the sidecar against its commitment and proof."""
    cell_indices = [int(sidecar.index)] * len(sidecar.column)
    return _verify_cells(
        [bytes(commitment) for commitment in sidecar.kzg_commitments],
        cell_indices,
        [bytes(cell) for cell in sidecar.column],
        [bytes(proof) for proof in sidecar.kzg_proofs],
    )


def verify_kzg_commitments_inclusion_proof(
    spec: Any, kzg_commitments: Any, proof: Sequence[bytes], body_root: bytes
) -> bool:
    """Check that `kzg_commitments` is the `blob_kzg_commitments` field under `body_root`."""
    return is_valid_merkle_branch(
        bytes(kzg_commitments.hash_tree_root()),
        [bytes(node) for node in proof],
        int(spec.KZG_COMMITMENTS_INCLUSION_PROOF_DEPTH),
        get_subtree_index(blob_kzg_commitments_gindex(spec)),
        bytes(body_root),
    )


def verify_data_column_sidecar_inclusion_proof(spec: Any, sidecar: Any) -> bool:
    """Check the sidecar's commitments against the body root of its signed block header."""
    return verify_kzg_commitments_inclusion_proof(
        spec,
        sidecar.kzg_commitments,
        sidecar.kzg_commitments_inclusion_proof,
        sidecar.signed_block_header.message.body_root,
    )


def verify_partial_data_column_header_inclusion_proof(spec: Any, header: Any) -> bool:
    """Check a `PartialDataColumnHeader`'s commitments against its block header's body root."""
    return verify_kzg_commitments_inclusion_proof(
        spec,
        header.kzg_commitments,
        header.kzg_commitments_inclusion_proof,
        header.signed_block_header.message.body_root,
    )


def verify_partial_data_column_sidecar_kzg_proofs(
    spec: Any, sidecar: Any, all_commitments: Sequence[bytes], column_index: int
) -> bool:
    """Batch-verify the cells a partial sidecar carries, one per set bit of its bitmap."""
    blob_indices = [index for index, bit in enumerate(sidecar.cells_present_bitmap) if bit]
    if any(index >= len(all_commitments) for index in blob_indices):
        return False
    return _verify_cells(
        [bytes(all_commitments[index]) for index in blob_indices],
        [int(column_index)] * len(blob_indices),
        [bytes(cell) for cell in sidecar.partial_column],
        [bytes(proof) for proof in sidecar.kzg_proofs],
    )


def _verify_cells(
    commitments: list[bytes], cell_indices: list[int], cells: list[bytes], proofs: list[bytes]
) -> bool:
    """Return the cell batch verification result, False when the inputs are malformed."""
    from caplin.crypto import kzg

    if not len(commitments) == len(cell_indices) == len(cells) == len(proofs):
        return False
    try:
        return bool(kzg.verify_cell_kzg_proof_batch(commitments, cell_indices, cells, proofs))
    except (CryptoError, ValueError, RuntimeError):
        return False
