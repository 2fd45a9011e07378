"""The state transition function: apply one signed block to a state."""

from typing import Any

from caplin.config.constants import DOMAIN_BEACON_PROPOSER
from caplin.errors import BlockProcessingError, CaplinError, require
from caplin.transition.engine import ExecutionEngine, TrustingEngine
from caplin.transition.helpers import compute_signing_root, get_domain, validator_table
from caplin.transition.signatures import SignatureBatch
from caplin.transition.slot import process_slots


def state_transition(
    spec: Any,
    state: Any,
    signed_block: Any,
    validate_result: bool = True,
    engine: ExecutionEngine | None = None,
    verify_signatures: bool = True,
    sigs: SignatureBatch | None = None,
) -> Any:
    """Return the post-state of `signed_block` applied to `state`; `state` is not modified.

    Advances a copy of `state` to the block's slot (with epoch processing and fork upgrades),
    applies the block, verifies every signature of the block in one batch, then checks the
    block's `state_root`. With `validate_result=False` the proposer signature and the state
    root are not checked (block production); with `verify_signatures=False` no signature is.
    `engine` checks the execution payload; None trusts every payload (replays, spec tests).

    When `sigs` is given, the block's signatures are added to it and left unverified: the
    caller verifies them later, for example once for a whole batch of synced blocks.

    Raises:
        BlockProcessingError: the block is invalid for `state`.
        SlotProcessingError: epoch processing on the way to the block's slot failed.
    """
    block = signed_block.message
    require(
        int(block.slot) > int(state.slot),
        "block_slot",
        "block is not after the state's slot",
        block_slot=int(block.slot),
        state_slot=int(state.slot),
    )
    state = process_slots(spec, state.copy(), block.slot)
    block_fork, state_fork = spec.fork_of(block), spec.fork_of(state)
    require(
        block_fork == state_fork,
        "block_fork",
        "block type is not of the fork at its slot",
        block_fork=block_fork.lower,
        state_fork=state_fork.lower,
    )

    batch = SignatureBatch(enabled=verify_signatures) if sigs is None else sigs
    if validate_result:
        add_block_signature(spec, state, signed_block, batch)
    _process_block(spec, state, block, batch, engine or TrustingEngine())
    if sigs is None:
        batch.verify()

    if validate_result:
        verify_state_root(block, state)
    return state


def verify_state_root(block: Any, post_state: Any) -> None:
    """Raise BlockProcessingError("state_root") unless `block.state_root` is the post-state root."""
    state_root = bytes(post_state.hash_tree_root())
    require(
        bytes(block.state_root) == state_root,
        "state_root",
        "block state root does not match the post-state",
        slot=int(block.slot),
        block_state_root=bytes(block.state_root),
        post_state_root=state_root,
    )


def add_block_signature(spec: Any, state: Any, signed_block: Any, sigs: SignatureBatch) -> None:
    """Queue the proposer's signature of `signed_block` on `sigs` (the spec's
    `verify_block_signature`)."""
    block = signed_block.message
    proposer_index = int(block.proposer_index)
    require(
        proposer_index < len(state.validators),
        "proposer_index",
        "block proposer index is not a validator",
        proposer_index=proposer_index,
        validator_count=len(state.validators),
    )
    domain = get_domain(spec, state, DOMAIN_BEACON_PROPOSER)
    sigs.add(
        [validator_table(state).pubkey(proposer_index)],
        compute_signing_root(spec, block, domain),
        bytes(signed_block.signature),
        "block",
        slot=int(block.slot),
        proposer_index=proposer_index,
    )


def _process_block(
    spec: Any, state: Any, block: Any, sigs: SignatureBatch, engine: ExecutionEngine
) -> None:
    from caplin.transition.block import process_block

    try:
        process_block(spec, state, block, sigs, engine)
    except CaplinError:
        raise
    except (ValueError, OverflowError, IndexError) as error:
        # SSZ views reject out-of-range uint64 values and indices with these; the spec
        # treats both as an invalid block.
        raise BlockProcessingError(
            "value_range", f"block processing failed: {error}", slot=int(block.slot)
        ) from error
