"""Attestation rewards and penalties of the previous epoch.

phase0 pays for pending attestations (source, target, head, inclusion delay) and
penalises inactivity by the finality delay. altair replaces both with per-flag deltas
from the participation bitfields, and with penalties from inactivity scores.
"""

from collections.abc import Sequence
from typing import Any

from caplin.config.constants import (
    BASE_REWARDS_PER_EPOCH,
    GENESIS_EPOCH,
    PARTICIPATION_FLAG_WEIGHTS,
    TIMELY_HEAD_FLAG_INDEX,
    TIMELY_TARGET_FLAG_INDEX,
    UINT64_MAX,
    WEIGHT_DENOMINATOR,
)
from caplin.config.forks import Fork
from caplin.errors import EpochProcessingError
from caplin.transition.epoch.attestations import (
    get_matching_head_attestations,
    get_matching_source_attestations,
    get_matching_target_attestations,
    get_unslashed_attesting_indices,
)
from caplin.transition.helpers import (
    get_attesting_indices,
    get_base_reward_per_increment,
    get_current_epoch,
    get_eligible_validator_indices,
    get_finality_delay,
    get_previous_epoch,
    get_total_active_balance,
    get_total_balance,
    get_unslashed_participating_indices,
    integer_squareroot,
    is_in_inactivity_leak,
)

Deltas = tuple[list[int], list[int]]
"""Per-validator rewards and penalties in Gwei, indexed by validator index."""


def process_rewards_and_penalties(spec: Any, state: Any) -> None:
    """Apply the attestation deltas for the previous epoch to every balance."""
    # Rewards pay for the previous epoch, which the genesis epoch does not have.
    if get_current_epoch(spec, state) == GENESIS_EPOCH:
        return

    if spec.fork_of(state) >= Fork.ALTAIR:
        deltas = [get_flag_index_deltas(spec, state, flag) for flag in range(3)]
        deltas.append(get_inactivity_penalty_deltas(spec, state))
    else:
        deltas = [get_attestation_deltas(spec, state)]

    # Each component is applied as increase_balance then decrease_balance, so a penalty
    # saturates at zero before the next component's reward; one write per validator.
    balances = state.balances
    for index in range(len(balances)):
        balance = int(balances[index])
        for rewards, penalties in deltas:
            balance += rewards[index]
            if balance > UINT64_MAX:
                raise EpochProcessingError("balance exceeds uint64", index=index, balance=balance)
            balance = balance - penalties[index] if balance > penalties[index] else 0
        balances[index] = balance


def _zero_deltas(state: Any) -> Deltas:
    count = len(state.validators)
    return [0] * count, [0] * count


def _effective_balances(state: Any) -> list[int]:
    return [int(validator.effective_balance) for validator in state.validators]


# phase0


def _phase0_base_rewards(spec: Any, state: Any) -> list[int]:
    """Return get_base_reward for every validator, computing the square root once."""
    sqrt_total = integer_squareroot(get_total_active_balance(spec, state))
    factor = spec.BASE_REWARD_FACTOR
    return [
        balance * factor // sqrt_total // BASE_REWARDS_PER_EPOCH
        for balance in _effective_balances(state)
    ]


def get_attestation_component_deltas(spec: Any, state: Any, attestations: Sequence[Any]) -> Deltas:
    """Reward eligible validators in `attestations` pro rata to the attesting balance, and
    penalise the other eligible validators one base reward (phase0)."""
    rewards, penalties = _zero_deltas(state)
    base_rewards = _phase0_base_rewards(spec, state)
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    total_increments = get_total_active_balance(spec, state) // increment
    attesters = get_unslashed_attesting_indices(spec, state, attestations)
    attesting_increments = get_total_balance(spec, state, attesters) // increment
    leaking = is_in_inactivity_leak(spec, state)

    for index in get_eligible_validator_indices(spec, state):
        if index not in attesters:
            penalties[index] += base_rewards[index]
        elif leaking:
            # The inactivity penalty cancels this full base reward during a leak.
            rewards[index] += base_rewards[index]
        else:
            rewards[index] += base_rewards[index] * attesting_increments // total_increments
    return rewards, penalties


def get_source_deltas(spec: Any, state: Any) -> Deltas:
    """Return the phase0 deltas for matching the source checkpoint in the previous epoch."""
    attestations = get_matching_source_attestations(spec, state, get_previous_epoch(spec, state))
    return get_attestation_component_deltas(spec, state, attestations)


def get_target_deltas(spec: Any, state: Any) -> Deltas:
    """Return the phase0 deltas for matching the target checkpoint in the previous epoch."""
    attestations = get_matching_target_attestations(spec, state, get_previous_epoch(spec, state))
    return get_attestation_component_deltas(spec, state, attestations)


def get_head_deltas(spec: Any, state: Any) -> Deltas:
    """Return the phase0 deltas for matching the head block in the previous epoch."""
    attestations = get_matching_head_attestations(spec, state, get_previous_epoch(spec, state))
    return get_attestation_component_deltas(spec, state, attestations)


def get_inclusion_delay_deltas(spec: Any, state: Any) -> Deltas:
    """Reward each attester by its fastest inclusion, and that attestation's proposer (phase0).

    Among attestations with equal inclusion delay the first in state order counts.
    """
    rewards, penalties = _zero_deltas(state)
    attestations = get_matching_source_attestations(spec, state, get_previous_epoch(spec, state))
    fastest: dict[int, tuple[int, int]] = {}
    for attestation in attestations:
        delay = int(attestation.inclusion_delay)
        proposer = int(attestation.proposer_index)
        for index in get_attesting_indices(spec, state, attestation):
            index = int(index)
            best = fastest.get(index)
            if best is None or delay < best[0]:
                fastest[index] = (delay, proposer)

    base_rewards = _phase0_base_rewards(spec, state)
    for index in get_unslashed_attesting_indices(spec, state, attestations):
        delay, proposer = fastest[index]
        proposer_reward = base_rewards[index] // spec.PROPOSER_REWARD_QUOTIENT
        rewards[proposer] += proposer_reward
        rewards[index] += (base_rewards[index] - proposer_reward) // delay
    return rewards, penalties


def _get_inactivity_penalty_deltas_phase0(spec: Any, state: Any) -> Deltas:
    rewards, penalties = _zero_deltas(state)
    if not is_in_inactivity_leak(spec, state):
        return rewards, penalties

    attestations = get_matching_target_attestations(spec, state, get_previous_epoch(spec, state))
    target_attesters = get_unslashed_attesting_indices(spec, state, attestations)
    base_rewards = _phase0_base_rewards(spec, state)
    effective_balances = _effective_balances(state)
    finality_delay = get_finality_delay(spec, state)
    for index in get_eligible_validator_indices(spec, state):
        # An optimal attester loses exactly what the other components paid it.
        proposer_reward = base_rewards[index] // spec.PROPOSER_REWARD_QUOTIENT
        penalties[index] += BASE_REWARDS_PER_EPOCH * base_rewards[index] - proposer_reward
        if index not in target_attesters:
            penalties[index] += (
                effective_balances[index] * finality_delay // spec.INACTIVITY_PENALTY_QUOTIENT
            )
    return rewards, penalties


def get_attestation_deltas(spec: Any, state: Any) -> Deltas:
    """Return the sum of the phase0 source, target, head, inclusion and inactivity deltas."""
    components = [
        get_source_deltas(spec, state),
        get_target_deltas(spec, state),
        get_head_deltas(spec, state),
        get_inclusion_delay_deltas(spec, state),
        _get_inactivity_penalty_deltas_phase0(spec, state),
    ]
    count = len(state.validators)
    rewards = [sum(component[0][index] for component in components) for index in range(count)]
    penalties = [sum(component[1][index] for component in components) for index in range(count)]
    return rewards, penalties


# altair


def get_flag_index_deltas(spec: Any, state: Any, flag_index: int) -> Deltas:
    """Return the deltas of one participation flag for the previous epoch (altair).

    Participants earn the flag's weight of their base reward, scaled by the participating
    share of the active balance, except during an inactivity leak. Other eligible validators
    lose the flag's weight of their base reward, unless the flag is the head flag.
    """
    rewards, penalties = _zero_deltas(state)
    participants = get_unslashed_participating_indices(
        spec, state, flag_index, get_previous_epoch(spec, state)
    )
    weight = PARTICIPATION_FLAG_WEIGHTS[flag_index]
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    participating_increments = get_total_balance(spec, state, participants) // increment
    active_increments = get_total_active_balance(spec, state) // increment
    per_increment = get_base_reward_per_increment(spec, state)
    leaking = is_in_inactivity_leak(spec, state)
    effective_balances = _effective_balances(state)

    for index in get_eligible_validator_indices(spec, state):
        base_reward = effective_balances[index] // increment * per_increment
        if index in participants:
            if not leaking:
                numerator = base_reward * weight * participating_increments
                rewards[index] += numerator // (active_increments * WEIGHT_DENOMINATOR)
        elif flag_index != TIMELY_HEAD_FLAG_INDEX:
            penalties[index] += base_reward * weight // WEIGHT_DENOMINATOR
    return rewards, penalties


def inactivity_penalty_quotient(spec: Any, fork: Fork) -> int:
    """Return the inactivity penalty quotient of `fork` (lowered in altair and bellatrix)."""
    if fork >= Fork.BELLATRIX:
        return spec.INACTIVITY_PENALTY_QUOTIENT_BELLATRIX
    if fork >= Fork.ALTAIR:
        return spec.INACTIVITY_PENALTY_QUOTIENT_ALTAIR
    return spec.INACTIVITY_PENALTY_QUOTIENT


def get_inactivity_penalty_deltas(spec: Any, state: Any) -> Deltas:
    """Return the inactivity penalties of the previous epoch.

    phase0 charges them only during an inactivity leak; from altair on every eligible
    validator that missed the target pays in proportion to its inactivity score.
    """
    fork = spec.fork_of(state)
    if fork < Fork.ALTAIR:
        return _get_inactivity_penalty_deltas_phase0(spec, state)

    rewards, penalties = _zero_deltas(state)
    target_participants = get_unslashed_participating_indices(
        spec, state, TIMELY_TARGET_FLAG_INDEX, get_previous_epoch(spec, state)
    )
    denominator = spec.INACTIVITY_SCORE_BIAS * inactivity_penalty_quotient(spec, fork)
    validators = state.validators
    scores = state.inactivity_scores
    for index in get_eligible_validator_indices(spec, state):
        if index not in target_participants:
            numerator = int(validators[index].effective_balance) * int(scores[index])
            penalties[index] += numerator // denominator
    return rewards, penalties
