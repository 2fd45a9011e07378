"""Effective balances follow actual balances with hysteresis."""

from typing import Any

from caplin.config.constants import COMPOUNDING_WITHDRAWAL_PREFIX
from caplin.config.forks import Fork


def hysteresis_thresholds(spec: Any) -> tuple[int, int]:
    """Return how far (Gwei) a balance must fall below or rise above the effective balance
    before the effective balance moves: (downward, upward)."""
    step = spec.EFFECTIVE_BALANCE_INCREMENT // spec.HYSTERESIS_QUOTIENT
    return step * spec.HYSTERESIS_DOWNWARD_MULTIPLIER, step * spec.HYSTERESIS_UPWARD_MULTIPLIER


def max_effective_balance_of(spec: Any, fork: Fork, withdrawal_credentials: bytes) -> int:
    """Return the effective-balance cap of a validator with these credentials under `fork`."""
    # electra: compounding (0x02) credentials raise the cap; all others keep 32 ETH.
    if fork < Fork.ELECTRA:
        return spec.MAX_EFFECTIVE_BALANCE
    if withdrawal_credentials[:1] == COMPOUNDING_WITHDRAWAL_PREFIX:
        return spec.MAX_EFFECTIVE_BALANCE_ELECTRA
    return spec.MIN_ACTIVATION_BALANCE


def process_effective_balance_updates(spec: Any, state: Any) -> None:
    """Round each balance down to an increment, capped, once it leaves the hysteresis band."""
    fork = spec.fork_of(state)
    downward, upward = hysteresis_thresholds(spec)
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    balances = state.balances
    for index, validator in enumerate(state.validators):
        balance = int(balances[index])
        effective_balance = int(validator.effective_balance)
        if balance + downward < effective_balance or effective_balance + upward < balance:
            cap = max_effective_balance_of(spec, fork, bytes(validator.withdrawal_credentials))
            validator.effective_balance = min(balance - balance % increment, cap)
