"""process_consolidation_request: merge one validator into another, or switch a validator
to compounding credentials (electra, EIP-7251).

As with withdrawal requests, a request that does not qualify is ignored.
"""

from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.transition.helpers import (
    compute_consolidation_epoch_and_update_churn,
    get_consolidation_churn_limit,
    get_current_epoch,
    get_pending_balance_to_withdraw,
    has_compounding_withdrawal_credential,
    has_eth1_withdrawal_credential,
    has_execution_withdrawal_credential,
    is_active_validator,
    switch_to_compounding_validator,
)

from ._common import find_validator_index, uint64_checked


def is_valid_switch_to_compounding_request(
    spec: Any, state: Any, consolidation_request: Any
) -> bool:
    """Return whether the request moves an active 0x01 validator to 0x02 credentials.

    Such a request names the same pubkey as source and target.
    """
    source_pubkey = bytes(consolidation_request.source_pubkey)
    if source_pubkey != bytes(consolidation_request.target_pubkey):
        return False
    index = find_validator_index(state, source_pubkey)
    if index is None:
        return False

    validator = state.validators[index]
    if bytes(validator.withdrawal_credentials)[12:] != bytes(consolidation_request.source_address):
        return False
    if not has_eth1_withdrawal_credential(spec, validator):
        return False
    if not is_active_validator(spec, validator, get_current_epoch(spec, state)):
        return False
    return int(validator.exit_epoch) == FAR_FUTURE_EPOCH


@uint64_checked("consolidation_request")
def process_consolidation_request(spec: Any, state: Any, consolidation_request: Any) -> None:
    """Switch the source to compounding, or exit the source into a pending consolidation."""
    if is_valid_switch_to_compounding_request(spec, state, consolidation_request):
        index = find_validator_index(state, consolidation_request.source_pubkey)
        assert index is not None
        switch_to_compounding_validator(spec, state, index)
        return

    source_pubkey = bytes(consolidation_request.source_pubkey)
    target_pubkey = bytes(consolidation_request.target_pubkey)
    # A consolidation into itself would be an exit without the exit rules.
    if source_pubkey == target_pubkey:
        return
    if len(state.pending_consolidations) == spec.PENDING_CONSOLIDATIONS_LIMIT:
        return
    # Too little consolidation churn: no consolidation could ever complete.
    if get_consolidation_churn_limit(spec, state) <= spec.MIN_ACTIVATION_BALANCE:
        return

    source_index = find_validator_index(state, source_pubkey)
    target_index = find_validator_index(state, target_pubkey)
    if source_index is None or target_index is None:
        return
    source = state.validators[source_index]
    target = state.validators[target_index]
    if not _may_consolidate(spec, state, source, target, source_index, consolidation_request):
        return

    source.exit_epoch = compute_consolidation_epoch_and_update_churn(
        spec, state, int(source.effective_balance)
    )
    source.withdrawable_epoch = int(source.exit_epoch) + spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY
    state.pending_consolidations.append(
        spec.types(spec.fork_of(state)).PendingConsolidation(
            source_index=source_index, target_index=target_index
        )
    )


def _may_consolidate(
    spec: Any,
    state: Any,
    source: Any,
    target: Any,
    source_index: int,
    consolidation_request: Any,
) -> bool:
    # The source must have execution credentials owned by the request's sender.
    if not has_execution_withdrawal_credential(spec, source):
        return False
    if bytes(source.withdrawal_credentials)[12:] != bytes(consolidation_request.source_address):
        return False
    if not has_compounding_withdrawal_credential(spec, target):
        return False

    current_epoch = get_current_epoch(spec, state)
    if not is_active_validator(spec, source, current_epoch):
        return False
    if not is_active_validator(spec, target, current_epoch):
        return False
    if int(source.exit_epoch) != FAR_FUTURE_EPOCH or int(target.exit_epoch) != FAR_FUTURE_EPOCH:
        return False
    if current_epoch < int(source.activation_epoch) + spec.SHARD_COMMITTEE_PERIOD:
        return False
    return get_pending_balance_to_withdraw(spec, state, source_index) == 0
