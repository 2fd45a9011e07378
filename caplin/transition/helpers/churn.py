"""Churn limits: how much stake may enter or leave the active set per epoch.

Phase0 counts validators; electra counts Gwei and keeps separate running
budgets for exits and consolidations in the state.
"""

from typing import Any

from caplin.transition.helpers.accessors import get_total_active_balance
from caplin.transition.helpers.committees import get_active_validator_indices, get_current_epoch
from caplin.transition.helpers.misc import compute_activation_exit_epoch


def get_validator_churn_limit(spec: Any, state: Any) -> int:
    """Return how many validators may activate or exit per epoch (phase0)."""
    active = get_active_validator_indices(spec, state, get_current_epoch(spec, state))
    return max(spec.MIN_PER_EPOCH_CHURN_LIMIT, len(active) // spec.CHURN_LIMIT_QUOTIENT)


def get_validator_activation_churn_limit(spec: Any, state: Any) -> int:
    """Return how many validators may activate per epoch, capped since deneb."""
    return min(spec.MAX_PER_EPOCH_ACTIVATION_CHURN_LIMIT, get_validator_churn_limit(spec, state))


def get_balance_churn_limit(spec: Any, state: Any) -> int:
    """Return the Gwei churn of the current epoch, a multiple of the balance increment (electra)."""
    churn = max(
        spec.MIN_PER_EPOCH_CHURN_LIMIT_ELECTRA,
        get_total_active_balance(spec, state) // spec.CHURN_LIMIT_QUOTIENT,
    )
    return churn - churn % spec.EFFECTIVE_BALANCE_INCREMENT


def get_activation_exit_churn_limit(spec: Any, state: Any) -> int:
    """Return the Gwei churn for activations and exits (electra)."""
    return min(spec.MAX_PER_EPOCH_ACTIVATION_EXIT_CHURN_LIMIT, get_balance_churn_limit(spec, state))


def get_consolidation_churn_limit(spec: Any, state: Any) -> int:
    """Return the Gwei churn left for consolidations (electra)."""
    return get_balance_churn_limit(spec, state) - get_activation_exit_churn_limit(spec, state)


def compute_exit_epoch_and_update_churn(spec: Any, state: Any, exit_balance: int) -> int:
    """Book `exit_balance` into the exit queue and return the epoch at which it exits (electra)."""
    earliest_exit_epoch = max(
        int(state.earliest_exit_epoch),
        compute_activation_exit_epoch(spec, get_current_epoch(spec, state)),
    )
    per_epoch_churn = get_activation_exit_churn_limit(spec, state)
    # A later epoch than the stored one starts with a full budget.
    if int(state.earliest_exit_epoch) < earliest_exit_epoch:
        balance_to_consume = per_epoch_churn
    else:
        balance_to_consume = int(state.exit_balance_to_consume)

    if exit_balance > balance_to_consume:
        balance_to_process = exit_balance - balance_to_consume
        additional_epochs = (balance_to_process - 1) // per_epoch_churn + 1
        earliest_exit_epoch += additional_epochs
        balance_to_consume += additional_epochs * per_epoch_churn

    state.exit_balance_to_consume = balance_to_consume - exit_balance
    state.earliest_exit_epoch = earliest_exit_epoch
    return earliest_exit_epoch


def compute_consolidation_epoch_and_update_churn(
    spec: Any, state: Any, consolidation_balance: int
) -> int:
    """Book `consolidation_balance` into the consolidation queue; return its epoch (electra)."""
    earliest_epoch = max(
        int(state.earliest_consolidation_epoch),
        compute_activation_exit_epoch(spec, get_current_epoch(spec, state)),
    )
    per_epoch_churn = get_consolidation_churn_limit(spec, state)
    if int(state.earliest_consolidation_epoch) < earliest_epoch:
        balance_to_consume = per_epoch_churn
    else:
        balance_to_consume = int(state.consolidation_balance_to_consume)

    if consolidation_balance > balance_to_consume:
        balance_to_process = consolidation_balance - balance_to_consume
        additional_epochs = (balance_to_process - 1) // per_epoch_churn + 1
        earliest_epoch += additional_epochs
        balance_to_consume += additional_epochs * per_epoch_churn

    state.consolidation_balance_to_consume = balance_to_consume - consolidation_balance
    state.earliest_consolidation_epoch = earliest_epoch
    return earliest_epoch
