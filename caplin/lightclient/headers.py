"""Light client headers, generalized indices by fork, and upgrades of light client objects.

Light client objects are SSZ containers of the fork whose types they use. A
newer fork only adds fields (the execution header in Capella, blob gas fields
in Deneb) or deepens a branch (Electra's larger `BeaconState`). So an object is
upgraded by copying its fields into the newer type: new fields keep their
defaults, and shorter branches get leading zero roots.
"""

from typing import Any

from remerkleable.complex import Container, Vector

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.lightclient import gloas
from caplin.merkle import (
    compute_merkle_proof,
    floorlog2,
    get_subtree_index,
    is_valid_merkle_branch,
    normalize_merkle_branch,
)

LIGHT_CLIENT_KINDS = (
    "LightClientHeader",
    "LightClientBootstrap",
    "LightClientUpdate",
    "LightClientFinalityUpdate",
    "LightClientOptimisticUpdate",
)
ZERO_ROOT = b"\x00" * 32


def compute_epoch_at_slot(spec: Any, slot: int) -> int:
    return int(slot) // int(spec.SLOTS_PER_EPOCH)


def compute_sync_committee_period_at_slot(spec: Any, slot: int) -> int:
    """Return the sync committee period that `slot` falls in."""
    return compute_epoch_at_slot(spec, slot) // int(spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD)


def compute_start_slot_at_sync_committee_period(spec: Any, period: int) -> int:
    """Return the first slot of sync committee `period`."""
    return int(period) * int(spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD) * int(spec.SLOTS_PER_EPOCH)


def light_client_fork(fork: Fork) -> Fork:
    """Return the fork whose light client types serve data of `fork` (Altair before Altair)."""
    return max(Fork(fork), Fork.ALTAIR)


# --- generalized indices into BeaconState and BeaconBlockBody --------------------------------


def _state_gindex(
    spec: Any, fork: int, slot: int, name: str, electra_gindex: int, gindex: int
) -> int:
    # Electra grew BeaconState past 32 fields, which moved every field one level
    # down, and Gloas moved them again. Types of an earlier fork keep their gindex.
    if gloas.is_gloas(fork):
        gloas_gindex = gloas.state_gindex_at_slot(spec, slot, name)
        if gloas_gindex is not None:
            return gloas_gindex
    if fork >= Fork.ELECTRA and compute_epoch_at_slot(spec, slot) >= int(spec.ELECTRA_FORK_EPOCH):
        return electra_gindex
    return gindex


def finalized_root_gindex_at_slot(spec: Any, fork: int, slot: int) -> int:
    """Return the gindex of `finalized_checkpoint.root` in the state at `slot`.

    `fork` is the fork of the light client types in use: the types of an
    earlier fork use that fork's gindex at every slot.
    """
    return _state_gindex(
        spec,
        fork,
        slot,
        "finalized_root",
        constants.FINALIZED_ROOT_GINDEX_ELECTRA,
        constants.FINALIZED_ROOT_GINDEX,
    )


def current_sync_committee_gindex_at_slot(spec: Any, fork: int, slot: int) -> int:
    """Return the gindex of `current_sync_committee` in the state at `slot`."""
    return _state_gindex(
        spec,
        fork,
        slot,
        "current_sync_committee",
        constants.CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
        constants.CURRENT_SYNC_COMMITTEE_GINDEX,
    )


def next_sync_committee_gindex_at_slot(spec: Any, fork: int, slot: int) -> int:
    """Return the gindex of `next_sync_committee` in the state at `slot`."""
    return _state_gindex(
        spec,
        fork,
        slot,
        "next_sync_committee",
        constants.NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
        constants.NEXT_SYNC_COMMITTEE_GINDEX,
    )


# --- headers ---------------------------------------------------------------------------------


def _has_field(value: Any, name: str) -> bool:
    return name in type(value).fields()


def get_lc_execution_root(spec: Any, header: Any) -> bytes:
    """Return the root the header's execution branch proves: zero before Capella.

    Between Capella and Deneb the root is that of a Capella `ExecutionPayloadHeader`,
    even when the header's type is a later fork's, so legacy proofs stay valid.
    """
    if _has_field(header, "execution_block_hash"):
        return gloas.get_gloas_lc_execution_root(spec, header)
    if not _has_field(header, "execution"):
        return ZERO_ROOT
    epoch = compute_epoch_at_slot(spec, header.beacon.slot)
    if epoch >= int(spec.DENEB_FORK_EPOCH) and _has_field(header.execution, "blob_gas_used"):
        return bytes(header.execution.hash_tree_root())
    if epoch >= int(spec.CAPELLA_FORK_EPOCH):
        capella_type = spec.types(Fork.CAPELLA).ExecutionPayloadHeader
        return bytes(upgrade_container(header.execution, capella_type).hash_tree_root())
    return ZERO_ROOT


def is_valid_light_client_header(spec: Any, header: Any) -> bool:
    """Check the header's execution part against its beacon header and the fork schedule."""
    if _has_field(header, "execution_block_hash"):
        return gloas.is_valid_gloas_light_client_header(spec, header)
    if not _has_field(header, "execution"):
        return True
    epoch = compute_epoch_at_slot(spec, header.beacon.slot)
    execution = header.execution

    if epoch < int(spec.DENEB_FORK_EPOCH) and _has_field(execution, "blob_gas_used"):
        if int(execution.blob_gas_used) != 0 or int(execution.excess_blob_gas) != 0:
            return False

    if epoch < int(spec.CAPELLA_FORK_EPOCH):
        empty_execution = type(execution)()
        empty_branch = type(header.execution_branch)()
        return (
            execution.hash_tree_root() == empty_execution.hash_tree_root()
            and header.execution_branch.hash_tree_root() == empty_branch.hash_tree_root()
        )

    gindex = constants.EXECUTION_PAYLOAD_GINDEX
    return is_valid_merkle_branch(
        get_lc_execution_root(spec, header),
        [bytes(node) for node in header.execution_branch],
        floorlog2(gindex),
        get_subtree_index(gindex),
        bytes(header.beacon.body_root),
    )


def _execution_payload_header(header_type: Any, payload: Any) -> Any:
    # Every header field is either a payload field or the root of a payload list
    # (`transactions_root`, `withdrawals_root`).
    payload_fields = type(payload).fields()
    values = {}
    for name in header_type.fields():
        if name in payload_fields:
            values[name] = getattr(payload, name)
        elif name.endswith("_root") and name[: -len("_root")] in payload_fields:
            values[name] = getattr(payload, name[: -len("_root")]).hash_tree_root()
    return header_type(**values)


def block_to_light_client_header(spec: Any, signed_block: Any) -> Any:
    """Return the `LightClientHeader` of a block, in the light client types of its fork."""
    block = signed_block.message
    fork = light_client_fork(spec.fork_of(block))
    types = spec.types(fork)
    beacon = types.BeaconBlockHeader(
        slot=block.slot,
        proposer_index=block.proposer_index,
        parent_root=block.parent_root,
        state_root=block.state_root,
        body_root=block.body.hash_tree_root(),
    )
    if fork < Fork.CAPELLA:
        return types.LightClientHeader(beacon=beacon)

    execution = _execution_payload_header(
        types.ExecutionPayloadHeader, block.body.execution_payload
    )
    branch = compute_merkle_proof(block.body, constants.EXECUTION_PAYLOAD_GINDEX)
    return types.LightClientHeader(beacon=beacon, execution=execution, execution_branch=branch)


# --- upgrades --------------------------------------------------------------------------------


def upgrade_container(value: Any, target_type: Any) -> Any:
    """Copy `value` into `target_type`: shared fields are copied, new ones stay default.

    A branch (a vector of roots) that is shorter than the target's is padded
    with leading zero roots, as Electra's `normalize_merkle_branch` does. Raises
    `ValueError` for a branch longer than the target's.
    """
    if type(value) is target_type:
        return value.copy()
    if issubclass(target_type, Container):
        source_fields = type(value).fields()
        values = {}
        for name, field_type in target_type.fields().items():
            if name in source_fields:
                values[name] = upgrade_container(getattr(value, name), field_type)
        return target_type(**values)
    if issubclass(target_type, Vector) and len(value) != target_type.vector_length():
        length = target_type.vector_length()
        if len(value) > length:
            raise ValueError(f"branch of {len(value)} roots does not fit {length}")
        padded = normalize_merkle_branch([bytes(node) for node in value], 1 << length)
        return target_type(padded)
    if isinstance(value, (bytes, int)):
        return target_type(value)
    # Lists, vectors and bitfields of one shape share their tree, whatever their class.
    return target_type.view_from_backing(value.get_backing())


def lc_object_kind(spec: Any, value: Any) -> tuple[str, Fork]:
    """Return the kind (`"LightClientUpdate"`, ...) and the fork of `value`'s light client type.

    Each fork builds its own light client classes, so the fork is the one
    `spec.fork_of` reports; the scan over all forks only backs that up.
    Raises `TypeError` for a value that is not a light client object.
    """
    try:
        first = [spec.fork_of(value)]
    except (KeyError, TypeError, ValueError):
        first = []
    for fork in first + sorted(Fork, reverse=True):
        if fork < Fork.ALTAIR:
            break
        types = spec.types(fork)
        for kind in LIGHT_CLIENT_KINDS:
            if type(value) is getattr(types, kind, None):
                return kind, fork
    gloas_namespace = gloas.gloas_types(spec)
    for kind in LIGHT_CLIENT_KINDS:
        if type(value) is getattr(gloas_namespace, kind):
            return kind, gloas.GLOAS
    raise TypeError(f"{type(value).__name__} is not a light client type")


_HEADER_FIELDS = ("header", "attested_header", "finalized_header")


def upgrade_lc_object(spec: Any, value: Any, fork: Fork) -> Any:
    """Return `value` (a light client header, bootstrap or update) in the types of `fork`.

    Gloas headers are not a superset of earlier ones, so an object bound for
    Gloas is first upgraded to Fulu, then each header is rebuilt for Gloas.
    """
    kind, source_fork = lc_object_kind(spec, value)
    if not gloas.is_gloas(fork):
        return upgrade_container(value, getattr(spec.types(fork), kind))
    target = getattr(gloas.gloas_types(spec), kind)
    if gloas.is_gloas(source_fork):
        return value.copy()
    value = upgrade_container(value, getattr(spec.types(Fork.FULU), kind))
    if kind == "LightClientHeader":
        return gloas.upgrade_header_to_gloas(spec, value)
    fields = {}
    for name, field_type in target.fields().items():
        if name in _HEADER_FIELDS:
            fields[name] = gloas.upgrade_header_to_gloas(spec, getattr(value, name))
        else:
            fields[name] = upgrade_container(getattr(value, name), field_type)
    return target(**fields)
