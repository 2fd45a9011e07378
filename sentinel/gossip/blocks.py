"""Gossip rules of `beacon_block`, `blob_sidecar`, `data_column_sidecar` and partial columns."""

from typing import Any

from caplin import peerdas
from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.errors import CryptoError
from caplin.merkle import get_generalized_index, get_subtree_index, is_valid_merkle_branch
from caplin.transition.helpers import compute_time_at_slot, is_execution_enabled
from sentinel.gossip.chain import PayloadStatus
from sentinel.gossip.context import (
    GossipContext,
    check_block_header,
    check_expected_proposer,
    check_proposer_signature,
)
from sentinel.gossip.result import ignore_unless, reject_unless


def max_blobs_per_block(context: GossipContext, epoch: int) -> int:
    """Return the blob limit of a block at `epoch` under the rules of the context's fork."""
    spec = context.spec
    if context.fork >= Fork.FULU:
        return peerdas.get_blob_parameters(spec, epoch).max_blobs_per_block
    if context.fork >= Fork.ELECTRA:
        return int(spec.MAX_BLOBS_PER_BLOCK_ELECTRA)
    return int(spec.MAX_BLOBS_PER_BLOCK)


def validate_beacon_block(context: GossipContext, signed_block: Any, now_ms: int) -> None:
    """Apply the `beacon_block` rules; raises `GossipValidationError` on IGNORE or REJECT."""
    chain, fork = context.chain, context.fork
    block = signed_block.message
    slot, proposer_index = int(block.slot), int(block.proposer_index)
    key = (slot, proposer_index)
    ignore_unless(
        key not in context.seen.proposer_slots,
        "block is not the first valid block for this slot and proposer",
    )
    ignore_unless(not context.clock.is_future_slot(slot, now_ms), "block is from a future slot")
    ignore_unless(
        slot > context.finalized_slot(),
        "block is not from a slot greater than the latest finalized slot",
    )
    parent_root = bytes(block.parent_root)
    ignore_unless(chain.has_block(parent_root), "block's parent has not been seen")

    parent_status = chain.payload_status(parent_root)
    if chain.get_block_state(parent_root) is None:
        _reject_failed_parent(context, block, parent_status)
    # Capella: a parent whose payload the engine invalidated is dropped before anything else.
    if fork >= Fork.CAPELLA:
        ignore_unless(
            parent_status is not PayloadStatus.INVALIDATED,
            "block's parent is valid and its payload is invalid",
        )

    state = chain.head_state()
    check_proposer_signature(context, state, block, signed_block.signature, "block")

    # Bellatrix: once execution is enabled, the payload timestamp is the slot's time.
    # NOTE: the spec checks it unconditionally from capella, which assumes a merged chain.
    # A chain that reaches capella unmerged (Lodestar 1.5.1 dev chains) has empty payloads,
    # so the check waits for the merge there too, as block processing does.
    if fork >= Fork.BELLATRIX and is_execution_enabled(context.spec, state, block.body):
        payload = block.body.execution_payload
        expected_time = compute_time_at_slot(context.spec, state.genesis_time, slot)
        reject_unless(
            int(payload.timestamp) == expected_time,
            "incorrect execution payload timestamp",
            expected=expected_time,
            actual=int(payload.timestamp),
        )
        if fork == Fork.BELLATRIX:
            ignore_unless(
                parent_status is not PayloadStatus.INVALIDATED,
                "block's parent is valid and its payload is invalid",
            )

    parent = chain.get_block(parent_root)
    reject_unless(slot > int(parent.slot), "block is not from a higher slot than its parent")
    reject_unless(
        context.is_finalized_ancestor(parent_root),
        "finalized checkpoint is not an ancestor of block",
    )
    # Deneb: a block carries at most the fork's blob limit of commitments.
    if fork >= Fork.DENEB:
        limit = max_blobs_per_block(context, context.epoch_at(slot))
        count = len(block.body.blob_kzg_commitments)
        reject_unless(count <= limit, "too many blob kzg commitments", count=count, limit=limit)
    check_expected_proposer(context, block, "block")

    context.seen.proposer_slots.add(key)


def _reject_failed_parent(context: GossipContext, block: Any, parent_status: PayloadStatus) -> None:
    # A parent that was seen but has no post-state failed the state transition
    # (or is still queued). Bellatrix: when execution is enabled, whether that is
    # the peer's fault depends on whether the parent's payload was checked.
    if context.fork >= Fork.BELLATRIX:
        execution_enabled = context.fork >= Fork.CAPELLA or is_execution_enabled(
            context.spec, context.chain.justified_state(), block.body
        )
        if execution_enabled:
            reject_unless(
                parent_status is not PayloadStatus.NOT_VALIDATED,
                "block's parent is invalid and its payload is optimistic",
            )
            ignore_unless(False, "block's parent is invalid and its payload is processed")
        reject_unless(False, "block's parent is invalid and execution is not enabled")
    reject_unless(False, "block's parent is invalid")


# --- blob sidecars (Deneb) -------------------------------------------------------------------


def compute_subnet_for_blob_sidecar(context: GossipContext, blob_index: int) -> int:
    spec = context.spec
    if context.fork >= Fork.ELECTRA:
        return int(blob_index) % int(spec.BLOB_SIDECAR_SUBNET_COUNT_ELECTRA)
    return int(blob_index) % int(spec.BLOB_SIDECAR_SUBNET_COUNT)


def verify_blob_sidecar_inclusion_proof(context: GossipContext, sidecar: Any) -> bool:
    """Check the sidecar's commitment against the body root of its signed block header."""
    body_type = context.spec.types(context.fork).BeaconBlockBody
    try:
        gindex = get_generalized_index(body_type, "blob_kzg_commitments", int(sidecar.index))
    except KeyError:
        return False
    return is_valid_merkle_branch(
        bytes(sidecar.kzg_commitment.hash_tree_root()),
        [bytes(node) for node in sidecar.kzg_commitment_inclusion_proof],
        int(context.spec.KZG_COMMITMENT_INCLUSION_PROOF_DEPTH),
        get_subtree_index(gindex),
        bytes(sidecar.signed_block_header.message.body_root),
    )


def _verify_blob_kzg_proof(blob: bytes, commitment: bytes, proof: bytes) -> bool:
    try:
        return bool(kzg.verify_blob_kzg_proof(blob, commitment, proof))
    except (CryptoError, ValueError, RuntimeError):
        return False


def validate_blob_sidecar(
    context: GossipContext, sidecar: Any, now_ms: int, subnet_id: int
) -> None:
    """Apply the `blob_sidecar_{subnet_id}` rules (Deneb, Electra)."""
    header = sidecar.signed_block_header.message
    index = int(sidecar.index)
    key = (int(header.slot), int(header.proposer_index), index)
    ignore_unless(
        key not in context.seen.blob_sidecar_tuples,
        "already seen blob sidecar from this proposer for this slot and index",
    )
    limit = max_blobs_per_block(context, context.epoch_at(header.slot))
    reject_unless(index < limit, "blob index out of range", index=index, limit=limit)
    reject_unless(
        compute_subnet_for_blob_sidecar(context, index) == int(subnet_id),
        "blob sidecar is for wrong subnet",
    )
    check_block_header(
        context, header, sidecar.signed_block_header.signature, now_ms, "blob sidecar"
    )
    reject_unless(
        verify_blob_sidecar_inclusion_proof(context, sidecar),
        "invalid blob sidecar inclusion proof",
    )
    reject_unless(
        _verify_blob_kzg_proof(
            bytes(sidecar.blob), bytes(sidecar.kzg_commitment), bytes(sidecar.kzg_proof)
        ),
        "invalid blob kzg proof",
    )
    check_expected_proposer(context, header, "blob sidecar")

    context.seen.blob_sidecar_tuples.add(key)


# --- data column sidecars (Fulu) -------------------------------------------------------------


def validate_data_column_sidecar(
    context: GossipContext, sidecar: Any, now_ms: int, subnet_id: int
) -> None:
    """Apply the `data_column_sidecar_{subnet_id}` rules (Fulu)."""
    spec = context.spec
    header = sidecar.signed_block_header.message
    key = (int(header.slot), int(header.proposer_index), int(sidecar.index))
    ignore_unless(
        key not in context.seen.data_column_sidecar_tuples,
        "already seen sidecar from this proposer for this slot and index",
    )
    reject_unless(peerdas.verify_data_column_sidecar(spec, sidecar), "invalid sidecar")
    reject_unless(
        peerdas.compute_subnet_for_data_column_sidecar(spec, sidecar.index) == int(subnet_id),
        "sidecar is for wrong subnet",
    )
    check_block_header(context, header, sidecar.signed_block_header.signature, now_ms, "sidecar")
    reject_unless(
        peerdas.verify_data_column_sidecar_inclusion_proof(spec, sidecar),
        "invalid sidecar inclusion proof",
    )
    reject_unless(
        peerdas.verify_data_column_sidecar_kzg_proofs(spec, sidecar), "invalid sidecar kzg proofs"
    )
    check_expected_proposer(context, header, "sidecar")

    context.seen.data_column_sidecar_tuples.add(key)


def validate_partial_data_column_sidecar(
    context: GossipContext, sidecar: Any, now_ms: int, group_id: Any, column_index: int
) -> None:
    """Apply the partial column rules: the optional header first, then the cells it carries."""
    present = sum(1 for bit in sidecar.cells_present_bitmap if bit)
    has_header = len(sidecar.header) == 1
    reject_unless(has_header or present > 0, "partial message is semantically empty")
    reject_unless(
        len(sidecar.partial_column) == present, "number of cells does not match number of set bits"
    )
    reject_unless(
        len(sidecar.kzg_proofs) == present, "number of proofs does not match number of set bits"
    )
    block_root = bytes(group_id.beacon_block_root)
    if has_header:
        _validate_partial_header(context, sidecar.header[0], block_root, now_ms)
    if present > 0:
        _validate_partial_cells(context, sidecar, block_root, now_ms, column_index)


def _validate_partial_header(
    context: GossipContext, header: Any, block_root: bytes, now_ms: int
) -> None:
    block_header = header.signed_block_header.message
    prior = context.seen.partial_data_column_headers.get(block_root)
    reject_unless(
        prior is None or prior.hash_tree_root() == header.hash_tree_root(),
        "header differs from previously validated header",
    )
    reject_unless(
        bytes(block_header.hash_tree_root()) == block_root,
        "header's block root does not match group id's block root",
    )
    reject_unless(len(header.kzg_commitments) > 0, "header's kzg_commitments is empty")
    check_block_header(
        context, block_header, header.signed_block_header.signature, now_ms, "header"
    )
    reject_unless(
        peerdas.verify_partial_data_column_header_inclusion_proof(context.spec, header),
        "invalid header inclusion proof",
    )
    check_expected_proposer(context, block_header, "header")

    context.seen.add_partial_header(block_root, header)


def _validate_partial_cells(
    context: GossipContext, sidecar: Any, block_root: bytes, now_ms: int, column_index: int
) -> None:
    header = context.seen.partial_data_column_headers.get(block_root)
    ignore_unless(header is not None, "valid corresponding header has not been seen")
    slot = int(header.signed_block_header.message.slot)
    ignore_unless(
        not context.clock.is_future_slot(slot, now_ms), "corresponding header is from a future slot"
    )
    ignore_unless(
        slot > context.finalized_slot(),
        "corresponding header is not from a slot greater than the latest finalized slot",
    )
    reject_unless(
        len(sidecar.cells_present_bitmap) == len(header.kzg_commitments),
        "bitmap length does not match commitments length",
    )
    reject_unless(
        peerdas.verify_partial_data_column_sidecar_kzg_proofs(
            context.spec, sidecar, list(header.kzg_commitments), column_index
        ),
        "invalid sidecar kzg proofs",
    )
