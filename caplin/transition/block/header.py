"""process_block_header: check a block against the state's latest header and cache it."""

from typing import Any

from caplin.errors import require
from caplin.transition.helpers import get_beacon_proposer_index

from ._common import require_validator_index, uint64_checked

_ZERO_ROOT = b"\x00" * 32


@uint64_checked("block_header")
def process_block_header(spec: Any, state: Any, block: Any) -> None:
    """Check slot, proposer and parent of `block`, then store its header in `state`.

    The header's `state_root` stays zero until the next `process_slot` fills it in.
    Raises `BlockProcessingError` on any mismatch or when the proposer is slashed.
    """
    slot = int(block.slot)
    require(
        slot == int(state.slot),
        "block_header.slot",
        "block slot does not match the state slot",
        block_slot=slot,
        state_slot=int(state.slot),
    )
    latest_slot = int(state.latest_block_header.slot)
    require(
        slot > latest_slot,
        "block_header.slot",
        "block is not newer than the latest block header",
        block_slot=slot,
        latest_header_slot=latest_slot,
    )

    expected_proposer = get_beacon_proposer_index(spec, state)
    require(
        int(block.proposer_index) == expected_proposer,
        "block_header.proposer_index",
        "block proposer is not the expected proposer",
        slot=slot,
        expected=expected_proposer,
        actual=int(block.proposer_index),
    )

    parent_root = state.latest_block_header.hash_tree_root()
    require(
        bytes(block.parent_root) == bytes(parent_root),
        "block_header.parent_root",
        "block parent root does not match the latest block header",
        slot=slot,
        expected=bytes(parent_root),
        actual=bytes(block.parent_root),
    )

    header_type = type(state.latest_block_header)
    state.latest_block_header = header_type(
        slot=slot,
        proposer_index=int(block.proposer_index),
        parent_root=block.parent_root,
        state_root=_ZERO_ROOT,
        body_root=block.body.hash_tree_root(),
    )

    require_validator_index(state, int(block.proposer_index), "block_header.proposer_index")
    require(
        not state.validators[int(block.proposer_index)].slashed,
        "block_header.proposer_slashed",
        "block proposer is slashed",
        slot=slot,
        proposer_index=int(block.proposer_index),
    )
