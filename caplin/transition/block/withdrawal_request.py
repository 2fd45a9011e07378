"""process_withdrawal_request: a full exit or partial withdrawal triggered from the execution
layer (electra, EIP-7002).

A request that does not qualify is ignored, never an invalid block: the execution layer
cannot check the beacon state, so anyone may send one.
"""

from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH, FULL_EXIT_REQUEST_AMOUNT
from caplin.transition.helpers import (
    compute_exit_epoch_and_update_churn,
    get_current_epoch,
    get_pending_balance_to_withdraw,
    has_compounding_withdrawal_credential,
    has_execution_withdrawal_credential,
    initiate_validator_exit,
    is_active_validator,
)

from ._common import find_validator_index, uint64_checked


@uint64_checked("withdrawal_request")
def process_withdrawal_request(spec: Any, state: Any, withdrawal_request: Any) -> None:
    """Exit the validator (amount 0) or queue a partial withdrawal of its excess balance."""
    amount = int(withdrawal_request.amount)
    is_full_exit_request = amount == FULL_EXIT_REQUEST_AMOUNT

    # With the partial withdrawal queue full, only full exits go through.
    queue_length = len(state.pending_partial_withdrawals)
    if queue_length == spec.PENDING_PARTIAL_WITHDRAWALS_LIMIT and not is_full_exit_request:
        return

    index = find_validator_index(state, withdrawal_request.validator_pubkey)
    if index is None:
        return
    validator = state.validators[index]
    if not _may_withdraw(spec, state, validator, withdrawal_request):
        return

    pending_balance = get_pending_balance_to_withdraw(spec, state, index)
    if is_full_exit_request:
        # A validator with queued partial withdrawals cannot exit until they are paid.
        if pending_balance == 0:
            initiate_validator_exit(spec, state, index)
        return

    balance = int(state.balances[index])
    has_sufficient_effective_balance = (
        int(validator.effective_balance) >= spec.MIN_ACTIVATION_BALANCE
    )
    has_excess_balance = balance > spec.MIN_ACTIVATION_BALANCE + pending_balance
    # Only compounding (0x02) validators can request partial withdrawals.
    if not (
        has_compounding_withdrawal_credential(spec, validator)
        and has_sufficient_effective_balance
        and has_excess_balance
    ):
        return

    to_withdraw = min(balance - spec.MIN_ACTIVATION_BALANCE - pending_balance, amount)
    exit_queue_epoch = compute_exit_epoch_and_update_churn(spec, state, to_withdraw)
    withdrawable_epoch = exit_queue_epoch + spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
    state.pending_partial_withdrawals.append(
        spec.types(spec.fork_of(state)).PendingPartialWithdrawal(
            validator_index=index,
            amount=to_withdraw,
            withdrawable_epoch=withdrawable_epoch,
        )
    )


def _may_withdraw(spec: Any, state: Any, validator: Any, withdrawal_request: Any) -> bool:
    """Return whether the request's source owns the validator and the validator may exit."""
    credentials = bytes(validator.withdrawal_credentials)
    if not has_execution_withdrawal_credential(spec, validator):
        return False
    if credentials[12:] != bytes(withdrawal_request.source_address):
        return False

    current_epoch = get_current_epoch(spec, state)
    if not is_active_validator(spec, validator, current_epoch):
        return False
    if int(validator.exit_epoch) != FAR_FUTURE_EPOCH:
        return False
    return current_epoch >= int(validator.activation_epoch) + spec.SHARD_COMMITTEE_PERIOD
