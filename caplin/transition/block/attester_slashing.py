"""process_attester_slashing: slash validators that signed two conflicting attestations."""

from typing import Any

from caplin.errors import require
from caplin.transition.helpers import (
    get_current_epoch,
    is_slashable_attestation_data,
    is_slashable_validator,
    is_valid_indexed_attestation,
    slash_validator,
)
from caplin.transition.signatures import SignatureBatch

from ._common import require_validator_index, uint64_checked


@uint64_checked("attester_slashing")
def process_attester_slashing(
    spec: Any, state: Any, attester_slashing: Any, sigs: SignatureBatch
) -> None:
    """Check both indexed attestations, then slash every slashable validator in both.

    Raises `BlockProcessingError` when the data do not conflict (neither a double vote nor a
    surround vote), an attestation is invalid, or no validator could be slashed.
    """
    attestation_1 = attester_slashing.attestation_1
    attestation_2 = attester_slashing.attestation_2

    require(
        is_slashable_attestation_data(spec, attestation_1.data, attestation_2.data),
        "attester_slashing.not_slashable_data",
        "attestation data are neither a double vote nor a surround vote",
        target_epoch_1=int(attestation_1.data.target.epoch),
        target_epoch_2=int(attestation_2.data.target.epoch),
    )
    require(
        is_valid_indexed_attestation(spec, state, attestation_1, sigs),
        "attester_slashing.attestation_1",
        "first indexed attestation is invalid",
        slot=int(attestation_1.data.slot),
    )
    require(
        is_valid_indexed_attestation(spec, state, attestation_2, sigs),
        "attester_slashing.attestation_2",
        "second indexed attestation is invalid",
        slot=int(attestation_2.data.slot),
    )

    current_epoch = get_current_epoch(spec, state)
    indices_1 = {int(index) for index in attestation_1.attesting_indices}
    indices_2 = {int(index) for index in attestation_2.attesting_indices}
    slashed_any = False
    for index in sorted(indices_1 & indices_2):
        require_validator_index(state, index, "attester_slashing.attesting_indices")
        if is_slashable_validator(spec, state.validators[index], current_epoch):
            slash_validator(spec, state, index)
            slashed_any = True
    require(
        slashed_any,
        "attester_slashing.nothing_slashed",
        "no validator in both attestations is slashable",
        common_indices=len(indices_1 & indices_2),
    )
