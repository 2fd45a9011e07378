"""The spec's state mutators: balances, exits, slashing, registry growth, compounding."""

from typing import Any

import numpy as np

from caplin.config.constants import (
    COMPOUNDING_WITHDRAWAL_PREFIX,
    FAR_FUTURE_EPOCH,
    G2_POINT_AT_INFINITY,
    GENESIS_SLOT,
    PROPOSER_WEIGHT,
    WEIGHT_DENOMINATOR,
)
from caplin.config.forks import Fork
from caplin.transition.helpers.churn import (
    compute_exit_epoch_and_update_churn,
    get_validator_churn_limit,
)
from caplin.transition.helpers.committees import get_current_epoch
from caplin.transition.helpers.misc import compute_activation_exit_epoch
from caplin.transition.helpers.predicates import get_max_effective_balance
from caplin.transition.helpers.proposers import get_beacon_proposer_index
from caplin.transition.helpers.registry import validator_table


def increase_balance(spec: Any, state: Any, index: int, delta: int) -> None:
    """Add `delta` Gwei to the balance of validator `index` (raises ValueError past uint64)."""
    index = int(index)
    balances = state.balances
    balances[index] = int(balances[index]) + int(delta)


def decrease_balance(spec: Any, state: Any, index: int, delta: int) -> None:
    """Subtract `delta` Gwei from the balance of validator `index`, stopping at zero."""
    index = int(index)
    balances = state.balances
    balance = int(balances[index])
    balances[index] = balance - int(delta) if delta < balance else 0


def initiate_validator_exit(spec: Any, state: Any, index: int) -> None:
    """Schedule the exit of validator `index` unless it has already been scheduled.

    Phase0 queues by validator count per epoch; electra books the effective balance into the
    Gwei exit churn (`compute_exit_epoch_and_update_churn`).
    """
    index = int(index)
    validator = state.validators[index]
    if int(validator.exit_epoch) != FAR_FUTURE_EPOCH:
        return

    if spec.fork_of(state) >= Fork.ELECTRA:
        exit_queue_epoch = compute_exit_epoch_and_update_churn(
            spec, state, int(validator.effective_balance)
        )
    else:
        exit_queue_epoch = _phase0_exit_queue_epoch(spec, state)

    validator.exit_epoch = exit_queue_epoch
    validator.withdrawable_epoch = exit_queue_epoch + spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY


def _phase0_exit_queue_epoch(spec: Any, state: Any) -> int:
    exit_epochs = validator_table(state).exit_epoch
    scheduled = exit_epochs[exit_epochs != np.uint64(FAR_FUTURE_EPOCH)]
    exit_queue_epoch = compute_activation_exit_epoch(spec, get_current_epoch(spec, state))
    if len(scheduled):
        exit_queue_epoch = max(exit_queue_epoch, int(scheduled.max()))
    exit_queue_churn = int(np.count_nonzero(exit_epochs == np.uint64(exit_queue_epoch)))
    if exit_queue_churn >= get_validator_churn_limit(spec, state):
        exit_queue_epoch += 1
    return exit_queue_epoch


def _slashing_quotients(spec: Any, fork: Fork) -> tuple[int, int]:
    """Return (min slashing penalty quotient, whistleblower reward quotient) of `fork`."""
    if fork >= Fork.ELECTRA:
        return (
            spec.MIN_SLASHING_PENALTY_QUOTIENT_ELECTRA,
            spec.WHISTLEBLOWER_REWARD_QUOTIENT_ELECTRA,
        )
    if fork >= Fork.BELLATRIX:
        return spec.MIN_SLASHING_PENALTY_QUOTIENT_BELLATRIX, spec.WHISTLEBLOWER_REWARD_QUOTIENT
    if fork >= Fork.ALTAIR:
        return spec.MIN_SLASHING_PENALTY_QUOTIENT_ALTAIR, spec.WHISTLEBLOWER_REWARD_QUOTIENT
    return spec.MIN_SLASHING_PENALTY_QUOTIENT, spec.WHISTLEBLOWER_REWARD_QUOTIENT


def slash_validator(
    spec: Any, state: Any, slashed_index: int, whistleblower_index: int | None = None
) -> None:
    """Slash validator `slashed_index`: exit it, penalize it, and reward proposer and reporter.

    The penalty and reward quotients change in altair, bellatrix and electra; altair pays the
    proposer PROPOSER_WEIGHT / WEIGHT_DENOMINATOR of the reward (phase0: PROPOSER_REWARD_QUOTIENT).
    """
    slashed_index = int(slashed_index)
    fork = spec.fork_of(state)
    epoch = get_current_epoch(spec, state)
    initiate_validator_exit(spec, state, slashed_index)

    validator = state.validators[slashed_index]
    validator.slashed = True
    validator.withdrawable_epoch = max(
        int(validator.withdrawable_epoch), epoch + spec.EPOCHS_PER_SLASHINGS_VECTOR
    )
    effective_balance = int(validator.effective_balance)
    slot_index = epoch % spec.EPOCHS_PER_SLASHINGS_VECTOR
    state.slashings[slot_index] = int(state.slashings[slot_index]) + effective_balance

    penalty_quotient, whistleblower_quotient = _slashing_quotients(spec, fork)
    decrease_balance(spec, state, slashed_index, effective_balance // penalty_quotient)

    proposer_index = get_beacon_proposer_index(spec, state)
    if whistleblower_index is None:
        whistleblower_index = proposer_index
    whistleblower_reward = effective_balance // whistleblower_quotient
    if fork >= Fork.ALTAIR:
        proposer_reward = whistleblower_reward * PROPOSER_WEIGHT // WEIGHT_DENOMINATOR
    else:
        proposer_reward = whistleblower_reward // spec.PROPOSER_REWARD_QUOTIENT
    increase_balance(spec, state, proposer_index, proposer_reward)
    increase_balance(spec, state, whistleblower_index, whistleblower_reward - proposer_reward)


def get_validator_from_deposit(
    spec: Any, pubkey: bytes, withdrawal_credentials: bytes, amount: int, *, fork: Fork
) -> Any:
    """Return a new, not yet eligible `Validator` for a deposit of `amount` Gwei.

    Electra caps the effective balance per credential type (`get_max_effective_balance`).
    """
    validator = spec.types(fork).Validator(
        pubkey=pubkey,
        withdrawal_credentials=withdrawal_credentials,
        effective_balance=0,
        slashed=False,
        activation_eligibility_epoch=FAR_FUTURE_EPOCH,
        activation_epoch=FAR_FUTURE_EPOCH,
        exit_epoch=FAR_FUTURE_EPOCH,
        withdrawable_epoch=FAR_FUTURE_EPOCH,
    )
    if fork >= Fork.ELECTRA:
        max_effective_balance = get_max_effective_balance(spec, validator)
    else:
        max_effective_balance = spec.MAX_EFFECTIVE_BALANCE
    amount = int(amount)
    validator.effective_balance = min(
        amount - amount % spec.EFFECTIVE_BALANCE_INCREMENT, max_effective_balance
    )
    return validator


def get_index_for_new_validator(spec: Any, state: Any) -> int:
    return len(state.validators)


def set_or_append_list(spec: Any, values: Any, index: int, value: Any) -> None:
    """Set `values[index]`, or append when `index` is one past the end."""
    if index == len(values):
        values.append(value)
    else:
        values[index] = value


def add_validator_to_registry(
    spec: Any, state: Any, pubkey: bytes, withdrawal_credentials: bytes, amount: int
) -> None:
    """Append a validator for a new deposit, with its balance (altair: and participation)."""
    index = get_index_for_new_validator(spec, state)
    validator = get_validator_from_deposit(
        spec, pubkey, withdrawal_credentials, amount, fork=spec.fork_of(state)
    )
    set_or_append_list(spec, state.validators, index, validator)
    set_or_append_list(spec, state.balances, index, int(amount))
    if spec.fork_of(state) >= Fork.ALTAIR:
        set_or_append_list(spec, state.previous_epoch_participation, index, 0)
        set_or_append_list(spec, state.current_epoch_participation, index, 0)
        set_or_append_list(spec, state.inactivity_scores, index, 0)


def switch_to_compounding_validator(spec: Any, state: Any, index: int) -> None:
    """Give validator `index` a 0x02 credential and queue its balance above 32 ETH (electra)."""
    index = int(index)
    validator = state.validators[index]
    credentials = bytes(validator.withdrawal_credentials)
    validator.withdrawal_credentials = COMPOUNDING_WITHDRAWAL_PREFIX + credentials[1:]
    queue_excess_active_balance(spec, state, index)


def queue_excess_active_balance(spec: Any, state: Any, index: int) -> None:
    """Move the balance above MIN_ACTIVATION_BALANCE into a pending deposit (electra).

    The pending deposit carries the infinity signature and GENESIS_SLOT, which marks it as
    already verified and tells it apart from a deposit request.
    """
    index = int(index)
    balance = int(state.balances[index])
    if balance <= spec.MIN_ACTIVATION_BALANCE:
        return
    state.balances[index] = spec.MIN_ACTIVATION_BALANCE
    validator = state.validators[index]
    pending_deposit = spec.types(spec.fork_of(state)).PendingDeposit(
        pubkey=validator.pubkey,
        withdrawal_credentials=validator.withdrawal_credentials,
        amount=balance - spec.MIN_ACTIVATION_BALANCE,
        signature=G2_POINT_AT_INFINITY,
        slot=GENESIS_SLOT,
    )
    state.pending_deposits.append(pending_deposit)
