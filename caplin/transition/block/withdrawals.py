"""process_withdrawals: the withdrawals a payload must carry (capella), led from electra by
the pending partial withdrawals queue (EIP-7251)."""

from dataclasses import dataclass
from typing import Any

import numpy as np

from caplin.config.constants import COMPOUNDING_WITHDRAWAL_PREFIX, ETH1_ADDRESS_WITHDRAWAL_PREFIX
from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.helpers import (
    decrease_balance,
    get_current_epoch,
    get_max_effective_balance,
    is_eligible_for_partial_withdrawals,
    is_fully_withdrawable_validator,
    is_partially_withdrawable_validator,
    validator_table,
)

from ._common import read_uint64_range, uint64_checked

ETH1_PREFIX = ETH1_ADDRESS_WITHDRAWAL_PREFIX[0]
COMPOUNDING_PREFIX = COMPOUNDING_WITHDRAWAL_PREFIX[0]


@dataclass(frozen=True)
class Withdrawal:
    """One expected withdrawal, in plain ints and bytes."""

    index: int
    validator_index: int
    address: bytes
    amount: int

    def to_ssz(self, spec: Any, fork: Fork) -> Any:
        """Return this withdrawal as the `Withdrawal` SSZ container of `fork`."""
        return spec.types(fork).Withdrawal(
            index=self.index,
            validator_index=self.validator_index,
            address=self.address,
            amount=self.amount,
        )


@dataclass(frozen=True)
class ExpectedWithdrawals:
    """The withdrawals of the next payload and how far each source was consumed.

    `processed_partial_withdrawals_count` is always 0 before electra.
    """

    withdrawals: list[Withdrawal]
    processed_partial_withdrawals_count: int
    processed_sweep_withdrawals_count: int


def get_expected_withdrawals(spec: Any, state: Any) -> ExpectedWithdrawals:
    """Return the withdrawals the next payload must contain, in order.

    Pending partial withdrawals come first (electra), then the sweep over validators that
    starts at `next_withdrawal_validator_index`.
    """
    fork = spec.fork_of(state)
    withdrawal_index = int(state.next_withdrawal_index)
    withdrawals: list[Withdrawal] = []

    processed_partials = 0
    if fork >= Fork.ELECTRA:
        partials, processed_partials = get_pending_partial_withdrawals(
            spec, state, withdrawal_index, withdrawals
        )
        withdrawals.extend(partials)
        withdrawal_index += len(partials)

    sweep, processed_sweep = get_validators_sweep_withdrawals(
        spec, state, withdrawal_index, withdrawals
    )
    withdrawals.extend(sweep)
    return ExpectedWithdrawals(withdrawals, processed_partials, processed_sweep)


def get_balance_after_withdrawals(
    state: Any, validator_index: int, withdrawals: list[Withdrawal]
) -> int:
    """Return the validator's balance minus what `withdrawals` already take from it."""
    withdrawn = sum(w.amount for w in withdrawals if w.validator_index == validator_index)
    balance = int(state.balances[validator_index]) - withdrawn
    require(
        balance >= 0,
        "withdrawals.balance",
        "withdrawals exceed the validator balance",
        validator_index=validator_index,
        withdrawn=withdrawn,
    )
    return balance


def get_pending_partial_withdrawals(
    spec: Any, state: Any, withdrawal_index: int, prior_withdrawals: list[Withdrawal]
) -> tuple[list[Withdrawal], int]:
    """Return the payable withdrawals at the head of `pending_partial_withdrawals` (electra)
    and how many queue entries they consume, paid or skipped.

    At most MAX_PENDING_PARTIALS_PER_WITHDRAWALS_SWEEP are taken, and one payload slot is
    always left for the validator sweep.
    """
    epoch = get_current_epoch(spec, state)
    limit = min(
        len(prior_withdrawals) + spec.MAX_PENDING_PARTIALS_PER_WITHDRAWALS_SWEEP,
        spec.MAX_WITHDRAWALS_PER_PAYLOAD - 1,
    )
    require(
        len(prior_withdrawals) <= limit,
        "withdrawals.limit",
        "too many withdrawals before the pending partial withdrawals",
        prior=len(prior_withdrawals),
        limit=limit,
    )

    processed = 0
    withdrawals: list[Withdrawal] = []
    for pending in state.pending_partial_withdrawals.readonly_iter():
        all_withdrawals = prior_withdrawals + withdrawals
        if int(pending.withdrawable_epoch) > epoch or len(all_withdrawals) >= limit:
            break

        validator_index = int(pending.validator_index)
        validator = state.validators[validator_index]
        balance = get_balance_after_withdrawals(state, validator_index, all_withdrawals)
        if is_eligible_for_partial_withdrawals(spec, validator, balance):
            amount = min(balance - spec.MIN_ACTIVATION_BALANCE, int(pending.amount))
            withdrawals.append(
                Withdrawal(
                    withdrawal_index,
                    validator_index,
                    bytes(validator.withdrawal_credentials)[12:],
                    amount,
                )
            )
            withdrawal_index += 1
        processed += 1
    return withdrawals, processed


def get_validators_sweep_withdrawals(
    spec: Any, state: Any, withdrawal_index: int, prior_withdrawals: list[Withdrawal]
) -> tuple[list[Withdrawal], int]:
    """Return the full and partial withdrawals of the validator sweep and how many validators
    it visited.

    The sweep visits at most MAX_VALIDATORS_PER_WITHDRAWALS_SWEEP validators and stops when
    the payload is full.
    """
    fork = spec.fork_of(state)
    epoch = get_current_epoch(spec, state)
    validator_count = len(state.validators)
    validators_limit = min(validator_count, spec.MAX_VALIDATORS_PER_WITHDRAWALS_SWEEP)
    withdrawals_limit = spec.MAX_WITHDRAWALS_PER_PAYLOAD
    require(
        len(prior_withdrawals) < withdrawals_limit,
        "withdrawals.limit",
        "no payload slot left for the validator sweep",
        prior=len(prior_withdrawals),
        limit=withdrawals_limit,
    )

    start = int(state.next_withdrawal_validator_index)
    withdrawals: list[Withdrawal] = []
    for position in _sweep_candidates(
        state, fork, epoch, start, validators_limit, prior_withdrawals
    ):
        validator_index = (start + position) % validator_count
        validator = state.validators[validator_index]
        balance = get_balance_after_withdrawals(state, validator_index, prior_withdrawals)
        address = bytes(validator.withdrawal_credentials)[12:]
        if is_fully_withdrawable_validator(spec, validator, balance, epoch, fork=fork):
            amount = balance
        elif is_partially_withdrawable_validator(spec, validator, balance, fork=fork):
            # Electra (EIP-7251) caps by credential type instead of MAX_EFFECTIVE_BALANCE.
            if fork >= Fork.ELECTRA:
                amount = balance - get_max_effective_balance(spec, validator)
            else:
                amount = balance - spec.MAX_EFFECTIVE_BALANCE
        else:
            continue

        withdrawals.append(Withdrawal(withdrawal_index, validator_index, address, amount))
        withdrawal_index += 1
        # A full payload ends the sweep right after the validator that filled it.
        if len(prior_withdrawals) + len(withdrawals) >= withdrawals_limit:
            return withdrawals, position + 1
    return withdrawals, validators_limit


def _sweep_candidates(
    state: Any,
    fork: Fork,
    epoch: int,
    start: int,
    window: int,
    prior_withdrawals: list[Withdrawal],
) -> list[int]:
    """Return the sweep positions (0 = `start`) whose validator may be withdrawable.

    The sweep may visit MAX_VALIDATORS_PER_WITHDRAWALS_SWEEP validators, and reading each one
    through its SSZ view costs far more than reading numpy columns. This filter keeps the
    validators with execution credentials that are past their withdrawable epoch or hold more
    than their effective balance, which every withdrawable validator does. The spec
    predicates then decide on each candidate.
    """
    table = validator_table(state)
    count = len(table)
    start %= count
    indices = (start + np.arange(window, dtype=np.int64)) % count
    # The window may wrap past the last validator to the first ones.
    head = min(window, count - start)
    balances = np.concatenate(
        [
            read_uint64_range(state.balances, start, head),
            read_uint64_range(state.balances, 0, window - head),
        ]
    ).astype(object)
    for withdrawal in prior_withdrawals:
        positions = np.flatnonzero(indices == withdrawal.validator_index)
        balances[positions] -= withdrawal.amount

    credentials = table.records["withdrawal_credentials"][indices].tobytes()
    prefix = np.frombuffer(credentials, dtype=np.uint8)[::32]
    if fork >= Fork.ELECTRA:
        has_credentials = (prefix == ETH1_PREFIX) | (prefix == COMPOUNDING_PREFIX)
    else:
        has_credentials = prefix == ETH1_PREFIX
    past_withdrawable = table.withdrawable_epoch[indices] <= np.uint64(epoch)
    above_effective = balances > table.effective_balance[indices].astype(object)
    return np.flatnonzero(has_credentials & (past_withdrawable | above_effective)).tolist()


@uint64_checked("withdrawals")
def process_withdrawals(spec: Any, state: Any, payload: Any) -> None:
    """Check that `payload` carries exactly the expected withdrawals, then apply them.

    Raises `BlockProcessingError` naming the first withdrawal that differs.
    """
    expected = get_expected_withdrawals(spec, state)
    _check_payload_withdrawals(state, payload, expected.withdrawals)

    for withdrawal in expected.withdrawals:
        decrease_balance(spec, state, withdrawal.validator_index, withdrawal.amount)

    if expected.withdrawals:
        state.next_withdrawal_index = expected.withdrawals[-1].index + 1

    # Electra: drop the queue entries that were paid or found ineligible.
    if expected.processed_partial_withdrawals_count:
        # Plain iteration: readonly_iter() reuses one view object for every element.
        remaining = list(state.pending_partial_withdrawals)
        remaining = remaining[expected.processed_partial_withdrawals_count :]
        state.pending_partial_withdrawals = type(state.pending_partial_withdrawals)(remaining)

    _update_next_withdrawal_validator_index(spec, state, expected.withdrawals)


def _check_payload_withdrawals(state: Any, payload: Any, expected: list[Withdrawal]) -> None:
    actual = payload.withdrawals
    require(
        len(actual) == len(expected),
        "withdrawals.count",
        "payload withdrawal count differs from the expected withdrawals",
        slot=int(state.slot),
        expected=len(expected),
        actual=len(actual),
    )
    for position, (want, got) in enumerate(zip(expected, actual, strict=True)):
        found = Withdrawal(
            int(got.index), int(got.validator_index), bytes(got.address), int(got.amount)
        )
        require(
            found == want,
            "withdrawals.mismatch",
            "payload withdrawal differs from the expected withdrawal",
            slot=int(state.slot),
            position=position,
            expected=want,
            actual=found,
        )


def _update_next_withdrawal_validator_index(
    spec: Any, state: Any, withdrawals: list[Withdrawal]
) -> None:
    validator_count = len(state.validators)
    # A full payload resumes the sweep after its last withdrawal. Otherwise the sweep has
    # visited its whole window.
    if len(withdrawals) == spec.MAX_WITHDRAWALS_PER_PAYLOAD:
        next_index = withdrawals[-1].validator_index + 1
    else:
        next_index = (
            int(state.next_withdrawal_validator_index) + spec.MAX_VALIDATORS_PER_WITHDRAWALS_SWEEP
        )
    state.next_withdrawal_validator_index = next_index % validator_count
