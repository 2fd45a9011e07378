"""Gloas (EIP-7732) light client types, so a light client can follow a chain into Gloas.

Gloas moves the execution payload out of the beacon block, so its
`LightClientHeader` keeps only the payload's block hash with a branch from
the block body root, and the larger Gloas `BeaconState` deepens every state
branch. Only the light client objects are covered here: caplin does not run
the Gloas state transition.

`GLOAS` is the fork number used where a `Fork` is expected. It orders after
`Fork.FULU`, and `light_client_types` maps it to the types built here.
"""

from types import SimpleNamespace
from typing import Any

from remerkleable.byte_arrays import Bytes32
from remerkleable.complex import Container, Vector

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.merkle import (
    compute_merkle_proof,
    compute_merkle_root,
    floorlog2,
    get_generalized_index,
    get_subtree_index,
    is_valid_normalized_merkle_branch,
    normalize_merkle_branch,
)

GLOAS = Fork.FULU + 1
FINALIZED_ROOT_GINDEX_GLOAS = 735
CURRENT_SYNC_COMMITTEE_GINDEX_GLOAS = 2945
NEXT_SYNC_COMMITTEE_GINDEX_GLOAS = 2946
# The payload's block hash under the body root: through the Capella or Deneb
# `ExecutionPayloadHeader` before Gloas, and from Gloas on the
# `signed_execution_payload_bid.message.parent_block_hash` field.
EXECUTION_BLOCK_HASH_GINDEX = 412
EXECUTION_BLOCK_HASH_GINDEX_DENEB = 812
EXECUTION_BLOCK_HASH_GINDEX_GLOAS = 2856
ZERO_ROOT = b"\x00" * 32


def is_gloas(fork: int) -> bool:
    return int(fork) >= GLOAS


def gloas_fork_epoch(spec: Any) -> int:
    return int(getattr(spec, "GLOAS_FORK_EPOCH", constants.FAR_FUTURE_EPOCH))


def gloas_fork_version(spec: Any) -> bytes | None:
    version = getattr(spec, "GLOAS_FORK_VERSION", None)
    return None if version is None else bytes(version)


# Built once per preset: keyed by the identity of that preset's Fulu namespace.
_TYPES: dict[int, SimpleNamespace] = {}


def _build_types(fulu_types: Any) -> SimpleNamespace:
    header_type = fulu_types.BeaconBlockHeader
    committee_type = fulu_types.SyncCommittee
    aggregate_type = fulu_types.SyncAggregate
    slot_type = fulu_types.LightClientUpdate.fields()["signature_slot"]

    class LightClientHeader(Container):
        beacon: header_type
        execution_block_hash: Bytes32
        execution_branch: Vector[Bytes32, floorlog2(EXECUTION_BLOCK_HASH_GINDEX_GLOAS)]

    class LightClientBootstrap(Container):
        header: LightClientHeader
        current_sync_committee: committee_type
        current_sync_committee_branch: Vector[
            Bytes32, floorlog2(CURRENT_SYNC_COMMITTEE_GINDEX_GLOAS)
        ]

    class LightClientUpdate(Container):
        attested_header: LightClientHeader
        next_sync_committee: committee_type
        next_sync_committee_branch: Vector[Bytes32, floorlog2(NEXT_SYNC_COMMITTEE_GINDEX_GLOAS)]
        finalized_header: LightClientHeader
        finality_branch: Vector[Bytes32, floorlog2(FINALIZED_ROOT_GINDEX_GLOAS)]
        sync_aggregate: aggregate_type
        signature_slot: slot_type

    class LightClientFinalityUpdate(Container):
        attested_header: LightClientHeader
        finalized_header: LightClientHeader
        finality_branch: Vector[Bytes32, floorlog2(FINALIZED_ROOT_GINDEX_GLOAS)]
        sync_aggregate: aggregate_type
        signature_slot: slot_type

    class LightClientOptimisticUpdate(Container):
        attested_header: LightClientHeader
        sync_aggregate: aggregate_type
        signature_slot: slot_type

    return SimpleNamespace(
        LightClientHeader=LightClientHeader,
        LightClientBootstrap=LightClientBootstrap,
        LightClientUpdate=LightClientUpdate,
        LightClientFinalityUpdate=LightClientFinalityUpdate,
        LightClientOptimisticUpdate=LightClientOptimisticUpdate,
        BeaconBlockHeader=header_type,
        SyncCommittee=committee_type,
        SyncAggregate=aggregate_type,
    )


def gloas_types(spec: Any) -> SimpleNamespace:
    """Return the Gloas light client classes of the spec's preset."""
    fulu_types = spec.types(Fork.FULU)
    types = _TYPES.get(id(fulu_types))
    if types is None:
        types = _TYPES[id(fulu_types)] = _build_types(fulu_types)
    return types


def light_client_types(spec: Any, fork: int) -> Any:
    """Return the namespace of light client classes of `fork` (`GLOAS` included)."""
    if is_gloas(fork):
        return gloas_types(spec)
    return spec.types(Fork(fork))


def compute_fork_version(spec: Any, epoch: int) -> bytes:
    """Return the fork version at `epoch`, including Gloas when the config schedules it."""
    version = gloas_fork_version(spec)
    if version is not None and epoch >= gloas_fork_epoch(spec):
        return version
    return spec.fork_version(spec.fork_at_epoch(epoch))


def _epoch(spec: Any, slot: int) -> int:
    return int(slot) // int(spec.SLOTS_PER_EPOCH)


def state_gindex_at_slot(spec: Any, slot: int, name: str) -> int | None:
    """Return the Gloas gindex of a light client state field at `slot`, or None before Gloas."""
    if _epoch(spec, slot) < gloas_fork_epoch(spec):
        return None
    return {
        "finalized_root": FINALIZED_ROOT_GINDEX_GLOAS,
        "current_sync_committee": CURRENT_SYNC_COMMITTEE_GINDEX_GLOAS,
        "next_sync_committee": NEXT_SYNC_COMMITTEE_GINDEX_GLOAS,
    }[name]


def _block_hash_gindex(spec: Any, epoch: int) -> int | None:
    if epoch >= gloas_fork_epoch(spec):
        return EXECUTION_BLOCK_HASH_GINDEX_GLOAS
    if epoch >= int(spec.DENEB_FORK_EPOCH):
        return EXECUTION_BLOCK_HASH_GINDEX_DENEB
    if epoch >= int(spec.CAPELLA_FORK_EPOCH):
        return EXECUTION_BLOCK_HASH_GINDEX
    return None


def is_valid_gloas_light_client_header(spec: Any, header: Any) -> bool:
    """Check a Gloas header's block hash branch against its body root."""
    gindex = _block_hash_gindex(spec, _epoch(spec, header.beacon.slot))
    branch = [bytes(node) for node in header.execution_branch]
    if gindex is None:
        return bytes(header.execution_block_hash) == ZERO_ROOT and all(
            node == ZERO_ROOT for node in branch
        )
    return is_valid_normalized_merkle_branch(
        bytes(header.execution_block_hash), branch, gindex, bytes(header.beacon.body_root)
    )


def _payload_header_type(spec: Any, epoch: int) -> Any:
    if epoch >= int(spec.DENEB_FORK_EPOCH):
        return spec.types(Fork.DENEB).ExecutionPayloadHeader
    return spec.types(Fork.CAPELLA).ExecutionPayloadHeader


def get_gloas_lc_execution_root(spec: Any, header: Any) -> bytes:
    """Return the execution root of a Gloas header: the block hash from Gloas on.

    Before Gloas it is the root of the `ExecutionPayloadHeader`, recomputed
    from the block hash and the part of the branch inside that header.
    """
    epoch = _epoch(spec, header.beacon.slot)
    if epoch >= gloas_fork_epoch(spec):
        return bytes(header.execution_block_hash)
    if epoch < int(spec.CAPELLA_FORK_EPOCH):
        return ZERO_ROOT
    payload_type = _payload_header_type(spec, epoch)
    if int(header.beacon.slot) == constants.GENESIS_SLOT:
        return bytes(payload_type().hash_tree_root())
    inner_gindex = get_generalized_index(payload_type, "block_hash")
    branch = [bytes(node) for node in header.execution_branch]
    inner = branch[: len(branch) - floorlog2(constants.EXECUTION_PAYLOAD_GINDEX)]
    inner = inner[len(inner) - floorlog2(inner_gindex) :]
    return compute_merkle_root(
        bytes(header.execution_block_hash), inner, get_subtree_index(inner_gindex)
    )


def upgrade_header_to_gloas(spec: Any, header: Any) -> Any:
    """Return a Fulu-typed `LightClientHeader` as a Gloas one.

    The block hash branch is the branch of `block_hash` inside the execution
    header followed by the header's own branch, padded to the Gloas depth.
    """
    target = gloas_types(spec).LightClientHeader
    if header.hash_tree_root() == type(header)().hash_tree_root():
        return target()
    epoch = _epoch(spec, header.beacon.slot)
    beacon = header.beacon.copy()
    if epoch < int(spec.CAPELLA_FORK_EPOCH):
        return target(beacon=beacon)

    from caplin.lightclient.headers import upgrade_container

    payload_type = _payload_header_type(spec, epoch)
    execution = upgrade_container(header.execution, payload_type)
    inner = compute_merkle_proof(execution, get_generalized_index(payload_type, "block_hash"))
    branch = inner + [bytes(node) for node in header.execution_branch]
    return target(
        beacon=beacon,
        execution_block_hash=header.execution.block_hash,
        execution_branch=normalize_merkle_branch(branch, EXECUTION_BLOCK_HASH_GINDEX_GLOAS),
    )


def gloas_fork_digests(spec: Any, genesis_validators_root: bytes) -> list[bytes]:
    """Return the fork digests of Gloas epochs, one per blob parameter change (none unscheduled).

    Like Fulu's, a Gloas digest mixes the blob parameters into the fork data root.
    """
    from caplin import peerdas
    from caplin.crypto.hash import sha256
    from caplin.transition.helpers import compute_fork_data_root

    version = gloas_fork_version(spec)
    start = gloas_fork_epoch(spec)
    if version is None or start == constants.FAR_FUTURE_EPOCH:
        return []
    base = compute_fork_data_root(spec, version, bytes(genesis_validators_root))
    epochs = {start} | {max(int(entry["EPOCH"]), start) for entry in spec.BLOB_SCHEDULE}
    digests = []
    for epoch in sorted(epochs):
        parameters = peerdas.get_blob_parameters(spec, epoch)
        mask = sha256(
            parameters.epoch.to_bytes(8, "little")
            + parameters.max_blobs_per_block.to_bytes(8, "little")
        )
        digests.append(bytes(a ^ b for a, b in zip(base, mask, strict=True))[:4])
    return digests
