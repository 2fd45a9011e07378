"""Validator duties: which committee and slot a validator attests in, and who proposes."""

from typing import Any

from caplin.transition.helpers.committees import (
    get_beacon_committee,
    get_committee_count_per_slot,
    get_current_epoch,
    get_shuffling,
)
from caplin.transition.helpers.misc import compute_start_slot_at_epoch
from caplin.transition.helpers.proposers import get_beacon_proposer_index


def get_committee_assignment(
    spec: Any, state: Any, epoch: int, validator_index: int
) -> tuple[list[int], int, int] | None:
    """Return (committee, committee index, slot) of `validator_index` in `epoch`, or None.

    `epoch` may be at most the state's next epoch, whose committees are already fixed.

    Raises:
        ValueError: `epoch` is after the next epoch.
    """
    epoch, validator_index = int(epoch), int(validator_index)
    next_epoch = get_current_epoch(spec, state) + 1
    if epoch > next_epoch:
        raise ValueError(f"committees of epoch {epoch} are not known before epoch {epoch - 1}")
    if validator_index not in get_shuffling(spec, state, epoch):
        return None
    start_slot = compute_start_slot_at_epoch(spec, epoch)
    committees_per_slot = get_committee_count_per_slot(spec, state, epoch)
    for slot in range(start_slot, start_slot + spec.SLOTS_PER_EPOCH):
        for index in range(committees_per_slot):
            committee = get_beacon_committee(spec, state, slot, index)
            if validator_index in committee:
                return committee, index, slot
    return None


def is_proposer(spec: Any, state: Any, validator_index: int) -> bool:
    return get_beacon_proposer_index(spec, state) == int(validator_index)
