"""Applying queued deposits within the activation churn (electra)."""

from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH, GENESIS_SLOT
from caplin.transition.helpers import (
    add_validator_to_registry,
    compute_start_slot_at_epoch,
    get_activation_exit_churn_limit,
    get_current_epoch,
    increase_balance,
    is_valid_deposit_signature,
)


def process_pending_deposits(spec: Any, state: Any) -> None:
    """Apply finalized pending deposits in queue order until the churn or the per-epoch cap
    is reached.

    Deposits to a withdrawn validator apply without using churn, deposits to an exiting
    validator go to the back of the queue, and unused churn carries over only when the
    churn limit stopped the pass.
    """
    pending_deposits_pass(spec, state, get_activation_exit_churn_limit(spec, state))


def pending_deposits_pass(
    spec: Any, state: Any, activation_exit_churn: int, columns: Any = None
) -> None:
    """Run process_pending_deposits with the activation/exit churn limit (Gwei) given.

    `columns`, the registry's `ValidatorColumns` if the caller has them, speeds up the
    public key lookups.
    """
    next_epoch = get_current_epoch(spec, state) + 1
    available = int(state.deposit_balance_to_consume) + activation_exit_churn
    finalized_slot = compute_start_slot_at_epoch(spec, int(state.finalized_checkpoint.epoch))
    # Deposit requests wait until the eth1 bridge deposits before them are all applied.
    bridge_pending = int(state.eth1_deposit_index) < int(state.deposit_requests_start_index)
    pubkey_index = PubkeyIndex(state, columns)
    processed_amount = 0
    next_index = 0
    postponed = []
    churn_limit_reached = False

    for deposit in state.pending_deposits:
        slot = int(deposit.slot)
        if slot > GENESIS_SLOT and bridge_pending:
            break
        if slot > finalized_slot:
            break
        if next_index >= spec.MAX_PENDING_DEPOSITS_PER_EPOCH:
            break

        exited = withdrawn = False
        index = pubkey_index.get(bytes(deposit.pubkey))
        if index is not None:
            validator = state.validators[index]
            exited = int(validator.exit_epoch) < FAR_FUTURE_EPOCH
            withdrawn = int(validator.withdrawable_epoch) < next_epoch

        if withdrawn:
            # The balance can never become active, so it uses no churn.
            apply_pending_deposit(spec, state, deposit, pubkey_index)
        elif exited:
            postponed.append(deposit)
        else:
            amount = int(deposit.amount)
            churn_limit_reached = processed_amount + amount > available
            if churn_limit_reached:
                break
            processed_amount += amount
            apply_pending_deposit(spec, state, deposit, pubkey_index)
        next_index += 1

    if next_index or postponed:
        queue = state.pending_deposits
        state.pending_deposits = type(queue)(*(list(queue)[next_index:] + postponed))
    state.deposit_balance_to_consume = available - processed_amount if churn_limit_reached else 0


def apply_pending_deposit(
    spec: Any, state: Any, deposit: Any, pubkey_index: "PubkeyIndex | None" = None
) -> None:
    """Top up an existing validator, or add a new one if the deposit signature is valid."""
    if pubkey_index is None:
        pubkey_index = PubkeyIndex(state)
    pubkey = bytes(deposit.pubkey)
    index = pubkey_index.get(pubkey)
    if index is not None:
        increase_balance(spec, state, index, int(deposit.amount))
        return

    # The deposit contract does not check the proof of possession, so it is checked here.
    if is_valid_deposit_signature(
        spec, deposit.pubkey, deposit.withdrawal_credentials, deposit.amount, deposit.signature
    ):
        add_validator_to_registry(
            spec, state, deposit.pubkey, deposit.withdrawal_credentials, int(deposit.amount)
        )
        pubkey_index.added(pubkey, len(state.validators) - 1)


class PubkeyIndex:
    """Lowest validator index by public key, for one pass over the deposit queue.

    With `columns` (the registry's `ValidatorColumns`) lookups search their key prefixes;
    without, the map of every key is read from the registry on first use, so a pass that
    looks up nothing reads nothing. Validators added during the pass are tracked apart.
    """

    def __init__(self, state: Any, columns: Any = None) -> None:
        self._state = state
        self._columns = columns
        self._map: dict[bytes, int] | None = None
        self._added: dict[bytes, int] = {}

    def get(self, pubkey: bytes) -> int | None:
        if self._columns is not None:
            index = self._columns.index_of_pubkey(self._state.validators, pubkey)
        else:
            index = self._full_map().get(pubkey)
        return index if index is not None else self._added.get(pubkey)

    def _full_map(self) -> dict[bytes, int]:
        if self._map is None:
            self._map = {}
            for index, validator in enumerate(self._state.validators):
                self._map.setdefault(bytes(validator.pubkey), index)
        return self._map

    def added(self, pubkey: bytes, index: int) -> None:
        self._added.setdefault(pubkey, index)
