"""The proposer lookahead window (fulu): proposers fixed epochs in advance."""

from typing import Any

from caplin.transition.helpers import get_beacon_proposer_indices, get_current_epoch


def process_proposer_lookahead(spec: Any, state: Any) -> None:
    """Drop the first epoch of `state.proposer_lookahead` and append the proposers of the
    epoch `MIN_SEED_LOOKAHEAD + 1` after the current one."""
    slots_per_epoch = spec.SLOTS_PER_EPOCH
    lookahead = [int(index) for index in state.proposer_lookahead]
    new_epoch = get_current_epoch(spec, state) + spec.MIN_SEED_LOOKAHEAD + 1
    new_proposers = [int(index) for index in get_beacon_proposer_indices(spec, state, new_epoch)]
    shifted = lookahead[slots_per_epoch:] + new_proposers
    state.proposer_lookahead = type(state.proposer_lookahead)(*shifted)
