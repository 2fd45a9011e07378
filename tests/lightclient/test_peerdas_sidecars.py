"""Tests of caplin.peerdas: custody groups, columns, and data column sidecars with real KZG."""

import pytest

from caplin import peerdas
from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.crypto import kzg

SPEC = ChainSpec.for_preset("minimal")
NODE_ID = 0x1234_5678_9ABC_DEF0 << 180


def test_custody_groups_sorted_and_unique() -> None:
    groups = peerdas.get_custody_groups(SPEC, NODE_ID, 8)
    assert groups == sorted(set(groups))
    assert len(groups) == 8
    assert all(0 <= group < SPEC.NUMBER_OF_CUSTODY_GROUPS for group in groups)


def test_custody_groups_grow_as_superset() -> None:
    small = set(peerdas.get_custody_groups(SPEC, NODE_ID, 4))
    large = set(peerdas.get_custody_groups(SPEC, NODE_ID, 20))
    assert small <= large


def test_custody_groups_wrap_at_max_node_id() -> None:
    groups = peerdas.get_custody_groups(SPEC, 2**256 - 1, 10)
    assert len(groups) == 10


def test_custody_groups_all_and_too_many() -> None:
    count = SPEC.NUMBER_OF_CUSTODY_GROUPS
    assert peerdas.get_custody_groups(SPEC, NODE_ID, count) == list(range(count))
    assert peerdas.get_custody_groups(SPEC, NODE_ID, 0) == []
    with pytest.raises(ValueError):
        peerdas.get_custody_groups(SPEC, NODE_ID, count + 1)


def test_columns_of_custody_group() -> None:
    assert peerdas.compute_columns_for_custody_group(SPEC, 5) == [5]
    with pytest.raises(ValueError):
        peerdas.compute_columns_for_custody_group(SPEC, SPEC.NUMBER_OF_CUSTODY_GROUPS)
    columns = peerdas.get_custody_columns(SPEC, NODE_ID, 4)
    assert len(columns) == 4


def test_sidecar_subnet_and_request_limit() -> None:
    subnet_count = SPEC.DATA_COLUMN_SIDECAR_SUBNET_COUNT
    assert peerdas.compute_subnet_for_data_column_sidecar(SPEC, subnet_count + 3) == 3
    assert peerdas.compute_max_request_data_column_sidecars(SPEC) == (
        SPEC.MAX_REQUEST_BLOCKS_DENEB * SPEC.NUMBER_OF_COLUMNS
    )


def test_blob_parameters_default_to_electra() -> None:
    parameters = peerdas.get_blob_parameters(SPEC, 10)
    assert parameters.max_blobs_per_block == SPEC.MAX_BLOBS_PER_BLOCK_ELECTRA


def _blob(seed: int) -> bytes:
    # Field elements must be below the BLS modulus, so the top byte of each stays zero.
    element_count = 4096
    return b"".join(
        bytes([0]) + ((seed * 7919 + index) % 2**200).to_bytes(31, "big")
        for index in range(element_count)
    )


@pytest.fixture(scope="module")
def sidecars_and_block() -> tuple[list, object, list]:
    types = SPEC.types(Fork.FULU)
    blobs = [_blob(1), _blob(2)]
    commitments = [kzg.blob_to_kzg_commitment(blob) for blob in blobs]
    body = types.BeaconBlockBody(blob_kzg_commitments=commitments)
    block = types.BeaconBlock(slot=3, proposer_index=1, body=body)
    signed_block = types.SignedBeaconBlock(message=block)
    cells_and_proofs = [kzg.compute_cells_and_kzg_proofs(blob) for blob in blobs]
    sidecars = peerdas.get_data_column_sidecars_from_block(SPEC, signed_block, cells_and_proofs)
    return sidecars, signed_block, blobs


def test_sidecars_verify(sidecars_and_block: tuple) -> None:
    sidecars, signed_block, _ = sidecars_and_block
    assert len(sidecars) == SPEC.NUMBER_OF_COLUMNS
    for sidecar in (sidecars[0], sidecars[77]):
        assert peerdas.verify_data_column_sidecar(SPEC, sidecar)
        assert peerdas.verify_data_column_sidecar_inclusion_proof(SPEC, sidecar)
        assert peerdas.verify_data_column_sidecar_kzg_proofs(SPEC, sidecar)
    header = sidecars[0].signed_block_header.message
    assert header.hash_tree_root() == signed_block.message.hash_tree_root()


def test_sidecar_checks_catch_tampering(sidecars_and_block: tuple) -> None:
    sidecars, _, _ = sidecars_and_block
    wrong_column = sidecars[3].copy()
    wrong_column.index = 4
    assert not peerdas.verify_data_column_sidecar_kzg_proofs(SPEC, wrong_column)

    wrong_proof = sidecars[3].copy()
    wrong_proof.kzg_commitments_inclusion_proof[0] = b"\x01" * 32
    assert not peerdas.verify_data_column_sidecar_inclusion_proof(SPEC, wrong_proof)

    missing_proof = sidecars[3].copy()
    missing_proof.kzg_proofs.pop()
    assert not peerdas.verify_data_column_sidecar(SPEC, missing_proof)
    assert not peerdas.verify_data_column_sidecar_kzg_proofs(SPEC, missing_proof)

    out_of_range = sidecars[3].copy()
    out_of_range.index = SPEC.NUMBER_OF_COLUMNS
    assert not peerdas.verify_data_column_sidecar(SPEC, out_of_range)


def test_recover_matrix_from_half_the_columns(sidecars_and_block: tuple) -> None:
    _, _, blobs = sidecars_and_block
    matrix = peerdas.compute_matrix(SPEC, blobs[:1])
    half = [entry for entry in matrix if int(entry.column_index) % 2 == 0]
    recovered = peerdas.recover_matrix(SPEC, half, 1)
    assert [entry.hash_tree_root() for entry in recovered] == [
        entry.hash_tree_root() for entry in matrix
    ]
