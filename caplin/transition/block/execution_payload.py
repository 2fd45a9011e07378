"""process_execution_payload: check the payload against the state and the execution engine,
then cache its header (bellatrix to fulu)."""

from typing import Any

from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.engine import ExecutionEngine
from caplin.transition.helpers import (
    compute_time_at_slot,
    get_blob_parameters,
    get_current_epoch,
    get_randao_mix,
    is_merge_transition_complete,
    kzg_commitment_to_versioned_hash,
)

from ._common import uint64_checked

# Payload fields that the header stores as a hash_tree_root, by header field name.
_ROOT_FIELDS = {"transactions_root": "transactions", "withdrawals_root": "withdrawals"}


def get_max_blobs_per_block(spec: Any, state: Any) -> int:
    """Return the limit on blob KZG commitments per block for the state's fork and epoch.

    Deneb and electra have one limit each, and fulu (EIP-7892) takes it from BLOB_SCHEDULE.
    """
    fork = spec.fork_of(state)
    if fork >= Fork.FULU:
        return get_blob_parameters(spec, get_current_epoch(spec, state))[1]
    if fork >= Fork.ELECTRA:
        return spec.MAX_BLOBS_PER_BLOCK_ELECTRA
    return spec.MAX_BLOBS_PER_BLOCK


@uint64_checked("execution_payload")
def process_execution_payload(spec: Any, state: Any, body: Any, engine: ExecutionEngine) -> None:
    """Check the payload of `body` and have `engine` verify it, then cache its header.

    Raises `BlockProcessingError` when the parent hash, prev_randao or timestamp do not
    match the state, when there are too many blob commitments, or when the engine reports the
    payload invalid.
    """
    fork = spec.fork_of(state)
    payload = body.execution_payload
    _check_against_state(spec, state, payload, fork)

    versioned_hashes: list[bytes] = []
    if fork >= Fork.DENEB:
        limit = get_max_blobs_per_block(spec, state)
        count = len(body.blob_kzg_commitments)
        require(
            count <= limit,
            "execution_payload.blob_kzg_commitments",
            "too many blob KZG commitments",
            slot=int(state.slot),
            limit=limit,
            actual=count,
        )
        versioned_hashes = [
            kzg_commitment_to_versioned_hash(commitment) for commitment in body.blob_kzg_commitments
        ]

    request = _new_payload_request(spec, state, body, fork, versioned_hashes)
    require(
        engine.verify_and_notify_new_payload(request),
        "execution_payload.invalid",
        "execution engine reports the payload invalid",
        slot=int(state.slot),
        block_hash=bytes(payload.block_hash),
    )

    state.latest_execution_payload_header = _payload_header(state, payload)


def _check_against_state(spec: Any, state: Any, payload: Any, fork: Fork) -> None:
    slot = int(state.slot)
    # Capella drops the merge transition case: every payload from then on has a parent.
    if fork >= Fork.CAPELLA or is_merge_transition_complete(spec, state):
        parent_hash = bytes(state.latest_execution_payload_header.block_hash)
        require(
            bytes(payload.parent_hash) == parent_hash,
            "execution_payload.parent_hash",
            "payload parent hash does not match the latest payload header",
            slot=slot,
            expected=parent_hash,
            actual=bytes(payload.parent_hash),
        )

    randao_mix = bytes(get_randao_mix(spec, state, get_current_epoch(spec, state)))
    require(
        bytes(payload.prev_randao) == randao_mix,
        "execution_payload.prev_randao",
        "payload prev_randao does not match the current RANDAO mix",
        slot=slot,
        expected=randao_mix,
        actual=bytes(payload.prev_randao),
    )

    timestamp = compute_time_at_slot(spec, int(state.genesis_time), slot)
    require(
        int(payload.timestamp) == timestamp,
        "execution_payload.timestamp",
        "payload timestamp does not match the slot time",
        slot=slot,
        expected=timestamp,
        actual=int(payload.timestamp),
    )


def _new_payload_request(
    spec: Any, state: Any, body: Any, fork: Fork, versioned_hashes: list[bytes]
) -> Any:
    fields: dict[str, Any] = {"execution_payload": body.execution_payload}
    # Deneb adds the blob hashes (EIP-4844) and the parent beacon root (EIP-4788).
    if fork >= Fork.DENEB:
        fields["versioned_hashes"] = versioned_hashes
        fields["parent_beacon_block_root"] = state.latest_block_header.parent_root
    # Electra adds the execution requests (EIP-7685).
    if fork >= Fork.ELECTRA:
        fields["execution_requests"] = body.execution_requests
    return spec.types(fork).NewPayloadRequest(**fields)


def _payload_header(state: Any, payload: Any) -> Any:
    header_type = type(state.latest_execution_payload_header)
    fields = {}
    for name in header_type.fields():
        source = _ROOT_FIELDS.get(name)
        if source is None:
            fields[name] = getattr(payload, name)
        else:
            fields[name] = getattr(payload, source).hash_tree_root()
    return header_type(**fields)
