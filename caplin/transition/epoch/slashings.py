"""Correlated slashing penalties, charged halfway through the slashings vector."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import decrease_balance, get_current_epoch, get_total_active_balance


def proportional_slashing_multiplier(spec: Any, fork: Fork) -> int:
    """Return the slashing multiplier of `fork` (raised in altair and bellatrix)."""
    if fork >= Fork.BELLATRIX:
        return spec.PROPORTIONAL_SLASHING_MULTIPLIER_BELLATRIX
    if fork >= Fork.ALTAIR:
        return spec.PROPORTIONAL_SLASHING_MULTIPLIER_ALTAIR
    return spec.PROPORTIONAL_SLASHING_MULTIPLIER


def process_slashings(spec: Any, state: Any) -> None:
    """Penalise each slashed validator in proportion to the total recently slashed balance."""
    fork = spec.fork_of(state)
    epoch = get_current_epoch(spec, state)
    total_balance = get_total_active_balance(spec, state)
    slashed_sum = sum(int(amount) for amount in state.slashings)
    adjusted_total = min(slashed_sum * proportional_slashing_multiplier(spec, fork), total_balance)
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    # electra: the penalty per increment is rounded down once, before scaling by increments.
    penalty_per_increment = adjusted_total // (total_balance // increment)
    penalty_epoch = epoch + spec.EPOCHS_PER_SLASHINGS_VECTOR // 2

    for index, validator in enumerate(state.validators):
        if not validator.slashed or int(validator.withdrawable_epoch) != penalty_epoch:
            continue
        increments = int(validator.effective_balance) // increment
        if fork >= Fork.ELECTRA:
            penalty = penalty_per_increment * increments
        else:
            penalty = increments * adjusted_total // total_balance * increment
        decrease_balance(spec, state, index, penalty)
