"""Fulu SSZ containers: PeerDAS data columns and the proposer lookahead."""

from typing import Any

from caplin.config.constants import BYTES_PER_FIELD_ELEMENT
from caplin.types.basic import (
    Bitlist,
    Bytes32,
    ByteVector,
    ColumnIndex,
    Container,
    KZGCommitment,
    KZGProof,
    List,
    Root,
    RowIndex,
    ValidatorIndex,
    Vector,
    copy_of,
    extend,
)
from caplin.types.bellatrix import blinded_types
from caplin.types.capella import body_with_payload, extend_request, state_with_header
from caplin.types.electra import electra_light_client_types
from caplin.types.phase0 import block_types


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the fulu containers for preset `p` on top of electra's `prev`."""
    Cell = ByteVector[BYTES_PER_FIELD_ELEMENT * p.FIELD_ELEMENTS_PER_CELL]
    DataColumn = List[Cell, p.MAX_BLOB_COMMITMENTS_PER_BLOCK]
    BlobKZGCommitments = List[KZGCommitment, p.MAX_BLOB_COMMITMENTS_PER_BLOCK]
    KZGProofs = List[KZGProof, p.MAX_BLOB_COMMITMENTS_PER_BLOCK]
    KZGCommitmentsInclusionProof = Vector[Bytes32, p.KZG_COMMITMENTS_INCLUSION_PROOF_DEPTH]
    CellsBitList = Bitlist[p.MAX_BLOB_COMMITMENTS_PER_BLOCK]
    SignedBeaconBlockHeader = prev["SignedBeaconBlockHeader"]

    class DataColumnSidecar(Container):
        index: ColumnIndex
        column: DataColumn  # type: ignore[valid-type]
        kzg_commitments: BlobKZGCommitments  # type: ignore[valid-type]
        kzg_proofs: KZGProofs  # type: ignore[valid-type]
        signed_block_header: SignedBeaconBlockHeader  # type: ignore[valid-type]
        kzg_commitments_inclusion_proof: KZGCommitmentsInclusionProof  # type: ignore[valid-type]

    class DataColumnsByRootIdentifier(Container):
        block_root: Root
        columns: List[ColumnIndex, p.NUMBER_OF_COLUMNS]

    class MatrixEntry(Container):
        cell: Cell  # type: ignore[valid-type]
        kzg_proof: KZGProof
        column_index: ColumnIndex
        row_index: RowIndex

    # Partial columns: a sidecar carrying only some cells, with a bitmap of which.
    class PartialDataColumnGroupID(Container):
        beacon_block_root: Root

    class PartialDataColumnHeader(Container):
        kzg_commitments: BlobKZGCommitments  # type: ignore[valid-type]
        signed_block_header: SignedBeaconBlockHeader  # type: ignore[valid-type]
        kzg_commitments_inclusion_proof: KZGCommitmentsInclusionProof  # type: ignore[valid-type]

    class PartialDataColumnPartsMetadata(Container):
        available: CellsBitList  # type: ignore[valid-type]
        requests: CellsBitList  # type: ignore[valid-type]

    # An optional header, encoded as a list of zero or one elements.
    OptionalPartialDataColumnHeader = List[PartialDataColumnHeader, 1]

    class PartialDataColumnSidecar(Container):
        cells_present_bitmap: CellsBitList  # type: ignore[valid-type]
        partial_column: DataColumn  # type: ignore[valid-type]
        kzg_proofs: KZGProofs  # type: ignore[valid-type]
        header: OptionalPartialDataColumnHeader  # type: ignore[valid-type]

    payload = copy_of(prev["ExecutionPayload"])
    header = copy_of(prev["ExecutionPayloadHeader"])
    body = body_with_payload(prev["BeaconBlockBody"], payload)
    state = extend(
        state_with_header(prev["BeaconState"], header),
        proposer_lookahead=Vector[ValidatorIndex, (p.MIN_SEED_LOOKAHEAD + 1) * p.SLOTS_PER_EPOCH],
    )
    request = extend_request(prev["NewPayloadRequest"], payload)

    types = {name: value for name, value in locals().items() if isinstance(value, type)}
    for local in ("payload", "header", "body", "state", "request", "SignedBeaconBlockHeader"):
        del types[local]
    types.update(
        {
            "ExecutionPayload": payload,
            "ExecutionPayloadHeader": header,
            "BeaconBlockBody": body,
            "BeaconState": state,
            "NewPayloadRequest": request,
        }
    )
    types.update(block_types(body))
    types.update(blinded_types(body, header))
    types.update(electra_light_client_types(prev, header))
    return types
