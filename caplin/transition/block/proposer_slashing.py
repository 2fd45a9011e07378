"""process_proposer_slashing: slash a proposer that signed two different headers for one slot."""

from typing import Any

from caplin.config.constants import DOMAIN_BEACON_PROPOSER
from caplin.errors import require
from caplin.transition.helpers import (
    compute_epoch_at_slot,
    compute_signing_root,
    get_current_epoch,
    get_domain,
    is_slashable_validator,
    slash_validator,
)
from caplin.transition.signatures import SignatureBatch

from ._common import require_validator_index, uint64_checked


@uint64_checked("proposer_slashing")
def process_proposer_slashing(
    spec: Any, state: Any, proposer_slashing: Any, sigs: SignatureBatch
) -> None:
    """Check the two signed headers, add their signatures to `sigs`, slash the proposer."""
    header_1 = proposer_slashing.signed_header_1.message
    header_2 = proposer_slashing.signed_header_2.message

    require(
        int(header_1.slot) == int(header_2.slot),
        "proposer_slashing.slot",
        "headers are for different slots",
        slot_1=int(header_1.slot),
        slot_2=int(header_2.slot),
    )
    require(
        int(header_1.proposer_index) == int(header_2.proposer_index),
        "proposer_slashing.proposer_index",
        "headers have different proposers",
        proposer_index_1=int(header_1.proposer_index),
        proposer_index_2=int(header_2.proposer_index),
    )
    require(
        header_1.hash_tree_root() != header_2.hash_tree_root(),
        "proposer_slashing.same_header",
        "headers are identical",
        slot=int(header_1.slot),
        proposer_index=int(header_1.proposer_index),
    )

    proposer_index = int(header_1.proposer_index)
    require_validator_index(state, proposer_index, "proposer_slashing.proposer_index")
    proposer = state.validators[proposer_index]
    require(
        is_slashable_validator(spec, proposer, get_current_epoch(spec, state)),
        "proposer_slashing.not_slashable",
        "proposer is not slashable",
        proposer_index=proposer_index,
    )

    for number, signed_header in enumerate(
        (proposer_slashing.signed_header_1, proposer_slashing.signed_header_2), start=1
    ):
        header = signed_header.message
        domain = get_domain(
            spec, state, DOMAIN_BEACON_PROPOSER, compute_epoch_at_slot(spec, int(header.slot))
        )
        sigs.add(
            [bytes(proposer.pubkey)],
            compute_signing_root(spec, header, domain),
            bytes(signed_header.signature),
            f"proposer_slashing header {number}",
            slot=int(header.slot),
            proposer_index=proposer_index,
        )

    slash_validator(spec, state, proposer_index)
