"""Column arrays of the validator registry, decoded once per registry root.

Reading a field of one validator through an SSZ view costs microseconds, and
the spec reads every validator's epochs and balances several times per slot.
`validator_table(state)` decodes the serialized registry into numpy columns
once per hash tree root of `state.validators`, so any change to any validator
yields a fresh table.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np

from caplin.transition.caches import LruCache, validators_key

# Byte layout of one serialized Validator (121 bytes, all fields fixed-size).
_VALIDATOR_SIZE = 121
_PUBKEY = slice(0, 48)
_EFFECTIVE_BALANCE = 80
_SLASHED = 88
_ACTIVATION_ELIGIBILITY_EPOCH = 89
_ACTIVATION_EPOCH = 97
_EXIT_EPOCH = 105
_WITHDRAWABLE_EPOCH = 113


@dataclass(frozen=True)
class ValidatorTable:
    """Read-only numpy columns of a registry (uint64 unless noted); index = validator index."""

    raw: np.ndarray  # uint8, shape (count, 121): the serialized validators
    effective_balance: np.ndarray
    slashed: np.ndarray  # bool
    activation_eligibility_epoch: np.ndarray
    activation_epoch: np.ndarray
    exit_epoch: np.ndarray
    withdrawable_epoch: np.ndarray

    def __len__(self) -> int:
        return len(self.effective_balance)

    def pubkey(self, index: int) -> bytes:
        return self.raw[index, _PUBKEY].tobytes()

    def active_mask(self, epoch: int) -> np.ndarray:
        return (self.activation_epoch <= epoch) & (epoch < self.exit_epoch)


_tables: LruCache[ValidatorTable] = LruCache(16)


def validator_table(state: Any) -> ValidatorTable:
    """Return the column table of `state.validators`, decoding it on first use per root."""
    return _tables.get_or_compute(validators_key(state), lambda: _decode(state.validators))


def _decode(validators: Any) -> ValidatorTable:
    raw = np.frombuffer(validators.encode_bytes(), dtype=np.uint8)
    rows = raw.reshape(-1, _VALIDATOR_SIZE)

    def column(offset: int) -> np.ndarray:
        return rows[:, offset : offset + 8].copy().view("<u8").reshape(-1)

    return ValidatorTable(
        raw=rows,
        effective_balance=column(_EFFECTIVE_BALANCE),
        slashed=rows[:, _SLASHED].astype(bool),
        activation_eligibility_epoch=column(_ACTIVATION_ELIGIBILITY_EPOCH),
        activation_epoch=column(_ACTIVATION_EPOCH),
        exit_epoch=column(_EXIT_EPOCH),
        withdrawable_epoch=column(_WITHDRAWABLE_EPOCH),
    )
