"""Activation eligibility, ejections and activations of the validator registry."""

from typing import Any

from caplin.config.forks import Fork
from caplin.transition.helpers import (
    compute_activation_exit_epoch,
    get_current_epoch,
    get_validator_activation_churn_limit,
    get_validator_churn_limit,
    initiate_validator_exit,
    is_active_validator,
    is_eligible_for_activation,
    is_eligible_for_activation_queue,
)


def process_registry_updates(spec: Any, state: Any) -> None:
    """Queue eligible validators, eject low-balance ones and activate the finalized queue."""
    if spec.fork_of(state) >= Fork.ELECTRA:
        _process_registry_updates_electra(spec, state)
    else:
        _process_registry_updates_phase0(spec, state)


def _process_registry_updates_phase0(spec: Any, state: Any) -> None:
    fork = spec.fork_of(state)
    current_epoch = get_current_epoch(spec, state)
    ejection_balance = spec.EJECTION_BALANCE
    for index in range(len(state.validators)):
        # A fresh view per validator: initiate_validator_exit replaces the registry tree, and
        # a view taken before it would write the old tree back.
        validator = state.validators[index]
        if is_eligible_for_activation_queue(spec, validator, fork=fork):
            validator.activation_eligibility_epoch = current_epoch + 1
        if (
            is_active_validator(spec, validator, current_epoch)
            and validator.effective_balance <= ejection_balance
        ):
            initiate_validator_exit(spec, state, index)

    # Activations are limited by the churn, in order of eligibility epoch, then index.
    queue = sorted(
        (int(validator.activation_eligibility_epoch), index)
        for index, validator in enumerate(state.validators)
        if is_eligible_for_activation(spec, state, validator)
    )
    activation_epoch = compute_activation_exit_epoch(spec, current_epoch)
    # deneb: activations get their own, capped churn limit.
    if fork >= Fork.DENEB:
        churn_limit = get_validator_activation_churn_limit(spec, state)
    else:
        churn_limit = get_validator_churn_limit(spec, state)
    for _, index in queue[:churn_limit]:
        state.validators[index].activation_epoch = activation_epoch


def _process_registry_updates_electra(spec: Any, state: Any) -> None:
    # electra: activations are limited by the balance churn of pending deposits instead,
    # so every finalized eligible validator activates, all in one pass.
    fork = spec.fork_of(state)
    current_epoch = get_current_epoch(spec, state)
    activation_epoch = compute_activation_exit_epoch(spec, current_epoch)
    ejection_balance = spec.EJECTION_BALANCE
    for index in range(len(state.validators)):
        # A fresh view per validator, as in the phase0 variant.
        validator = state.validators[index]
        if is_eligible_for_activation_queue(spec, validator, fork=fork):
            validator.activation_eligibility_epoch = current_epoch + 1
        elif (
            is_active_validator(spec, validator, current_epoch)
            and validator.effective_balance <= ejection_balance
        ):
            initiate_validator_exit(spec, state, index)
        elif is_eligible_for_activation(spec, state, validator):
            validator.activation_epoch = activation_epoch
