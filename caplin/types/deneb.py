"""Deneb SSZ containers: blob commitments in the block, blob sidecars."""

from typing import Any

from caplin.config.constants import BYTES_PER_FIELD_ELEMENT
from caplin.types.altair import light_client_types
from caplin.types.basic import (
    BlobIndex,
    Bytes32,
    ByteVector,
    Container,
    KZGCommitment,
    KZGProof,
    List,
    Root,
    Vector,
    VersionedHash,
    extend,
    uint64,
)
from caplin.types.bellatrix import blinded_types, payload_header_of
from caplin.types.capella import (
    body_with_payload,
    extend_request,
    light_client_header,
    state_with_header,
)
from caplin.types.phase0 import block_types


def build(p: Any, prev: dict[str, type]) -> dict[str, type]:
    """Define the deneb containers for preset `p` on top of capella's `prev`."""
    Blob = ByteVector[BYTES_PER_FIELD_ELEMENT * p.FIELD_ELEMENTS_PER_BLOB]
    SignedBeaconBlockHeader = prev["SignedBeaconBlockHeader"]

    class BlobSidecar(Container):
        index: BlobIndex
        blob: Blob
        kzg_commitment: KZGCommitment
        kzg_proof: KZGProof
        signed_block_header: SignedBeaconBlockHeader  # type: ignore[valid-type]
        kzg_commitment_inclusion_proof: Vector[Bytes32, p.KZG_COMMITMENT_INCLUSION_PROOF_DEPTH]

    class BlobIdentifier(Container):
        block_root: Root
        index: BlobIndex

    payload = extend(prev["ExecutionPayload"], blob_gas_used=uint64, excess_blob_gas=uint64)
    header = payload_header_of(payload)
    body = body_with_payload(prev["BeaconBlockBody"], payload)
    body = extend(body, blob_kzg_commitments=List[KZGCommitment, p.MAX_BLOB_COMMITMENTS_PER_BLOCK])
    state = state_with_header(prev["BeaconState"], header)
    request = extend_request(
        prev["NewPayloadRequest"],
        payload,
        versioned_hashes=List[VersionedHash, p.MAX_BLOB_COMMITMENTS_PER_BLOCK],
        parent_beacon_block_root=Root,
    )

    types: dict[str, type] = {
        "Blob": Blob,
        "BlobSidecar": BlobSidecar,
        "BlobIdentifier": BlobIdentifier,
        "ExecutionPayload": payload,
        "ExecutionPayloadHeader": header,
        "BeaconBlockBody": body,
        "BeaconState": state,
        "NewPayloadRequest": request,
    }
    types.update(block_types(body))
    types.update(blinded_types(body, header))
    types.update(
        light_client_types(
            light_client_header(prev["BeaconBlockHeader"], header),
            prev["SyncCommittee"],
            prev["SyncAggregate"],
        )
    )
    return types
