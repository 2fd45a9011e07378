"""Inactivity scores (altair): grow for validators missing the target, decay otherwise."""

from typing import Any

from caplin.config.constants import GENESIS_EPOCH, TIMELY_TARGET_FLAG_INDEX
from caplin.transition.helpers import (
    get_current_epoch,
    get_eligible_validator_indices,
    get_previous_epoch,
    get_unslashed_participating_indices,
    is_in_inactivity_leak,
)


def process_inactivity_updates(spec: Any, state: Any) -> None:
    """Update the inactivity score of every eligible validator from previous-epoch targets."""
    # Scores follow previous-epoch participation, which the genesis epoch does not have.
    if get_current_epoch(spec, state) == GENESIS_EPOCH:
        return

    target_participants = get_unslashed_participating_indices(
        spec, state, TIMELY_TARGET_FLAG_INDEX, get_previous_epoch(spec, state)
    )
    leaking = is_in_inactivity_leak(spec, state)
    bias = spec.INACTIVITY_SCORE_BIAS
    recovery_rate = spec.INACTIVITY_SCORE_RECOVERY_RATE
    scores = state.inactivity_scores
    for index in get_eligible_validator_indices(spec, state):
        score = int(scores[index])
        if index in target_participants:
            score = max(score - 1, 0)
        else:
            score += bias
        if not leaking:
            score = max(score - recovery_rate, 0)
        scores[index] = score
