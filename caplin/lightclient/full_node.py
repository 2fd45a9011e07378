"""Light client data a full node derives from its blocks and post-states.

Each function takes the post-state of a block together with the block, so the
state's `latest_block_header` (with the state root filled in) is the block's
header. The objects use the light client types of the fork of the block the
data describes: the attested block for updates, the block itself for a
bootstrap.
"""

from typing import Any

from caplin.config import constants
from caplin.errors import CaplinError
from caplin.lightclient.headers import (
    block_to_light_client_header,
    compute_epoch_at_slot,
    compute_sync_committee_period_at_slot,
    current_sync_committee_gindex_at_slot,
    finalized_root_gindex_at_slot,
    lc_object_kind,
    light_client_fork,
    next_sync_committee_gindex_at_slot,
)
from caplin.merkle import compute_merkle_proof


class LightClientDataError(CaplinError):
    """A state and block given to build light client data do not belong together."""


def _check(condition: object, message: str, **fields: Any) -> None:
    if not condition:
        raise LightClientDataError(message, **fields)


def state_block_root(state: Any) -> bytes:
    """Return the root of the block whose post-state `state` is (before any empty slot)."""
    header = state.latest_block_header.copy()
    header.state_root = state.hash_tree_root()
    return bytes(header.hash_tree_root())


def _check_post_state(state: Any, signed_block: Any) -> None:
    _check(
        int(state.slot) == int(state.latest_block_header.slot),
        "state was advanced past its block",
        state_slot=int(state.slot),
        block_slot=int(state.latest_block_header.slot),
    )
    block_root = bytes(signed_block.message.hash_tree_root())
    _check(
        state_block_root(state) == block_root,
        "state is not the post-state of the block",
        block_root=block_root,
    )


def create_light_client_bootstrap(spec: Any, state: Any, signed_block: Any) -> Any:
    """Return the `LightClientBootstrap` of a block from its post-state.

    Raises `LightClientDataError` before Altair or when the state is not the block's.
    """
    slot = int(state.slot)
    _check(
        compute_epoch_at_slot(spec, slot) >= int(spec.ALTAIR_FORK_EPOCH),
        "no light client data before Altair",
        slot=slot,
    )
    _check_post_state(state, signed_block)
    fork = light_client_fork(spec.fork_of(state))
    types = spec.types(fork)
    branch = compute_merkle_proof(state, current_sync_committee_gindex_at_slot(spec, fork, slot))
    return types.LightClientBootstrap(
        header=block_to_light_client_header(spec, signed_block),
        current_sync_committee=state.current_sync_committee,
        current_sync_committee_branch=branch,
    )


def create_light_client_update(
    spec: Any,
    state: Any,
    signed_block: Any,
    attested_state: Any,
    attested_block: Any,
    finalized_block: Any | None,
) -> Any:
    """Return the `LightClientUpdate` that `signed_block`'s sync aggregate makes for its parent.

    `attested_block` is the parent and `attested_state` its post-state.
    `finalized_block` is the block of the attested state's finalized
    checkpoint, or None when it is not available. Raises `LightClientDataError`
    when the sync aggregate has too few participants or the inputs do not match.
    """
    attested_slot = int(attested_state.slot)
    _check(
        compute_epoch_at_slot(spec, attested_slot) >= int(spec.ALTAIR_FORK_EPOCH),
        "no light client data before Altair",
        slot=attested_slot,
    )
    bits = signed_block.message.body.sync_aggregate.sync_committee_bits
    participants = sum(1 for bit in bits if bit)
    _check(
        participants >= int(spec.MIN_SYNC_COMMITTEE_PARTICIPANTS),
        "too few sync committee participants",
        participants=participants,
    )
    _check_post_state(state, signed_block)
    _check_post_state(attested_state, attested_block)
    attested_root = bytes(attested_block.message.hash_tree_root())
    _check(
        attested_root == bytes(signed_block.message.parent_root),
        "attested block is not the parent of the signing block",
        attested_root=attested_root,
    )

    fork = light_client_fork(spec.fork_of(attested_state))
    types = spec.types(fork)
    update = types.LightClientUpdate()
    update.attested_header = block_to_light_client_header(spec, attested_block)

    # The next sync committee only helps when the current committee signed the update.
    signature_period = compute_sync_committee_period_at_slot(spec, signed_block.message.slot)
    attested_period = compute_sync_committee_period_at_slot(spec, attested_block.message.slot)
    if attested_period == signature_period:
        update.next_sync_committee = attested_state.next_sync_committee
        gindex = next_sync_committee_gindex_at_slot(spec, fork, attested_slot)
        update.next_sync_committee_branch = compute_merkle_proof(attested_state, gindex)

    if finalized_block is not None:
        if int(finalized_block.message.slot) != constants.GENESIS_SLOT:
            update.finalized_header = block_to_light_client_header(spec, finalized_block)
            finalized_root = bytes(update.finalized_header.beacon.hash_tree_root())
            _check(
                finalized_root == bytes(attested_state.finalized_checkpoint.root),
                "finalized block is not the attested state's finalized checkpoint",
                finalized_root=finalized_root,
            )
        else:
            _check(
                bytes(attested_state.finalized_checkpoint.root) == b"\x00" * 32,
                "genesis finalized block with a non-zero finalized checkpoint",
            )
        gindex = finalized_root_gindex_at_slot(spec, fork, attested_slot)
        update.finality_branch = compute_merkle_proof(attested_state, gindex)

    update.sync_aggregate = signed_block.message.body.sync_aggregate
    update.signature_slot = signed_block.message.slot
    return update


def create_light_client_finality_update(spec: Any, update: Any) -> Any:
    """Return the `LightClientFinalityUpdate` part of `update`."""
    _, fork = lc_object_kind(spec, update)
    return spec.types(fork).LightClientFinalityUpdate(
        attested_header=update.attested_header,
        finalized_header=update.finalized_header,
        finality_branch=update.finality_branch,
        sync_aggregate=update.sync_aggregate,
        signature_slot=update.signature_slot,
    )


def create_light_client_optimistic_update(spec: Any, update: Any) -> Any:
    """Return the `LightClientOptimisticUpdate` part of `update` (or of a finality update)."""
    _, fork = lc_object_kind(spec, update)
    return spec.types(fork).LightClientOptimisticUpdate(
        attested_header=update.attested_header,
        sync_aggregate=update.sync_aggregate,
        signature_slot=update.signature_slot,
    )
