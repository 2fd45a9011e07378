"""Upgrade phase0 to altair: participation flags, inactivity scores, sync committees."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import (
    add_flag,
    get_attestation_participation_flag_indices,
    get_beacon_committee,
    get_next_sync_committee,
)
from caplin.transition.upgrade.common import carry_over, upgraded_fork


def upgrade_to_altair(spec: Any, pre: Any) -> Any:
    """Return the altair state that continues the phase0 state `pre`."""
    types = spec.types(Fork.ALTAIR)
    validator_count = len(pre.validators)
    post = carry_over(
        pre,
        types.BeaconState,
        fork=upgraded_fork(spec, pre, Fork.ALTAIR),
        previous_epoch_participation=[0] * validator_count,
        current_epoch_participation=[0] * validator_count,
        inactivity_scores=[0] * validator_count,
    )
    translate_participation(spec, post, pre.previous_epoch_attestations)

    # Both committees are the same one at the fork: there is no earlier period to draw from.
    post.current_sync_committee = get_next_sync_committee(spec, post)
    post.next_sync_committee = get_next_sync_committee(spec, post)
    return post


def translate_participation(spec: Any, state: Any, pending_attestations: Any) -> None:
    """Set the previous-epoch participation flags earned by phase0 pending attestations."""
    flags = list(state.previous_epoch_participation.encode_bytes())
    for attestation in pending_attestations.readonly_iter():
        data = attestation.data
        earned = get_attestation_participation_flag_indices(
            spec, state, data, int(attestation.inclusion_delay)
        )
        committee = get_beacon_committee(spec, state, data.slot, data.index)
        bits = attestation.aggregation_bits
        for position, validator_index in enumerate(committee):
            if bits[position]:
                for flag_index in earned:
                    flags[validator_index] = add_flag(flags[validator_index], flag_index)
    state.previous_epoch_participation = flags
