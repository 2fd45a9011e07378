"""Upgrade deneb to electra: Gwei churn budgets and the pending-deposit queue."""

from typing import Any

import numpy as np

from caplin.config.constants import (
    COMPOUNDING_WITHDRAWAL_PREFIX,
    FAR_FUTURE_EPOCH,
    G2_POINT_AT_INFINITY,
    GENESIS_SLOT,
    UNSET_DEPOSIT_REQUESTS_START_INDEX,
)
from caplin.config.forks import Fork
from caplin.transition.helpers import (
    BalanceChanges,
    compute_activation_exit_epoch,
    get_activation_exit_churn_limit,
    get_consolidation_churn_limit,
    get_current_epoch,
    queue_excess_active_balance,
    validator_table,
)
from caplin.transition.upgrade.common import carry_over, upgraded_fork

# Offset of withdrawal_credentials in a serialized Validator, after the 48-byte pubkey.
_CREDENTIALS_OFFSET = 48


def upgrade_to_electra(spec: Any, pre: Any) -> Any:
    """Return the electra state that continues the deneb state `pre`.

    Validators not yet activated move their whole balance into pending deposits, and
    validators that already have 0x02 credentials queue their balance above 32 ETH, so
    both go through the electra activation churn.
    """
    types = spec.types(Fork.ELECTRA)
    epoch = get_current_epoch(spec, pre)
    post = carry_over(
        pre,
        types.BeaconState,
        fork=upgraded_fork(spec, pre, Fork.ELECTRA),
        deposit_requests_start_index=UNSET_DEPOSIT_REQUESTS_START_INDEX,
        earliest_exit_epoch=_earliest_exit_epoch(spec, pre, epoch),
        earliest_consolidation_epoch=compute_activation_exit_epoch(spec, epoch),
    )
    post.exit_balance_to_consume = get_activation_exit_churn_limit(spec, post)
    post.consolidation_balance_to_consume = get_consolidation_churn_limit(spec, post)

    _queue_pre_activation_balances(spec, post, types)
    for index in _compounding_indices(post):
        queue_excess_active_balance(spec, post, index)
    return post


def _compounding_indices(state: Any) -> list[int]:
    """Return the indices of validators with 0x02 withdrawal credentials, in order."""
    prefixes = validator_table(state).raw[:, _CREDENTIALS_OFFSET]
    return np.flatnonzero(prefixes == COMPOUNDING_WITHDRAWAL_PREFIX[0]).tolist()


def _earliest_exit_epoch(spec: Any, pre: Any, epoch: int) -> int:
    """Return one past the latest scheduled exit, and at least one past the activation delay."""
    exit_epochs = validator_table(pre).exit_epoch
    scheduled = exit_epochs[exit_epochs != np.uint64(FAR_FUTURE_EPOCH)]
    earliest = compute_activation_exit_epoch(spec, epoch)
    if len(scheduled):
        earliest = max(earliest, int(scheduled.max()))
    return earliest + 1


def _queue_pre_activation_balances(spec: Any, post: Any, types: Any) -> None:
    table = validator_table(post)
    waiting = np.flatnonzero(table.activation_epoch == np.uint64(FAR_FUTURE_EPOCH)).tolist()
    waiting.sort(key=lambda index: (int(table.activation_eligibility_epoch[index]), index))
    balances = BalanceChanges(spec, post)
    for index in waiting:
        balance = balances.balance(index)
        balances.set(index, 0)
        validator = post.validators[index]
        validator.effective_balance = 0
        validator.activation_eligibility_epoch = FAR_FUTURE_EPOCH
        # The infinity signature and GENESIS_SLOT mark a deposit that needs no verification.
        post.pending_deposits.append(
            types.PendingDeposit(
                pubkey=validator.pubkey,
                withdrawal_credentials=validator.withdrawal_credentials,
                amount=balance,
                signature=G2_POINT_AT_INFINITY,
                slot=GENESIS_SLOT,
            )
        )
    balances.write()
