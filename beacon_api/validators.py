"""Validator statuses, id matching and balances read from a state's SSZ bytes.

Reading a registry through remerkleable views costs a few microseconds per field, so for
large registries the routes read the validators list and balances from their SSZ encoding.
"""

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from beacon_api.ids import parse_uint
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.errors import ApiError

# The SSZ codec's collector pause is shared, so nested pauses from both modules agree.
from caplin.types.ssz import _gc_paused, encode

# Validator container: pubkey 48, withdrawal_credentials 32, effective_balance 8, slashed 1,
# then four epochs of 8 bytes.
VALIDATOR_SIZE = 121
_VALIDATOR_TAIL = struct.Struct("<Q?QQQQ")
VALIDATOR_DTYPE = np.dtype(
    [
        ("pubkey", "S48"),
        ("withdrawal_credentials", "S32"),
        ("effective_balance", "<u8"),
        ("slashed", "u1"),
        ("activation_eligibility_epoch", "<u8"),
        ("activation_epoch", "<u8"),
        ("exit_epoch", "<u8"),
        ("withdrawable_epoch", "<u8"),
    ]
)
assert VALIDATOR_DTYPE.itemsize == VALIDATOR_SIZE

STATUSES = (
    "pending_initialized",
    "pending_queued",
    "active_ongoing",
    "active_exiting",
    "active_slashed",
    "exited_unslashed",
    "exited_slashed",
    "withdrawal_possible",
    "withdrawal_done",
)
# The coarse statuses a filter may name, each standing for a group of the fine ones.
STATUS_GROUPS = {
    "pending": ("pending_initialized", "pending_queued"),
    "active": ("active_ongoing", "active_exiting", "active_slashed"),
    "exited": ("exited_unslashed", "exited_slashed"),
    "withdrawal": ("withdrawal_possible", "withdrawal_done"),
}


@dataclass(frozen=True)
class ValidatorRecord:
    """One decoded registry entry (every field of the `Validator` container)."""

    index: int
    pubkey: bytes
    withdrawal_credentials: bytes
    effective_balance: int
    slashed: bool
    activation_eligibility_epoch: int
    activation_epoch: int
    exit_epoch: int
    withdrawable_epoch: int

    def status(self, epoch: int) -> str:
        """Return the Beacon API status of this validator at `epoch`."""
        if self.activation_epoch > epoch:
            if self.activation_eligibility_epoch == FAR_FUTURE_EPOCH:
                return "pending_initialized"
            return "pending_queued"
        if epoch < self.exit_epoch:
            if self.exit_epoch == FAR_FUTURE_EPOCH:
                return "active_ongoing"
            return "active_slashed" if self.slashed else "active_exiting"
        if epoch < self.withdrawable_epoch:
            return "exited_slashed" if self.slashed else "exited_unslashed"
        return "withdrawal_possible" if self.effective_balance != 0 else "withdrawal_done"

    def to_json(self) -> dict[str, Any]:
        return {
            "pubkey": "0x" + self.pubkey.hex(),
            "withdrawal_credentials": "0x" + self.withdrawal_credentials.hex(),
            "effective_balance": str(self.effective_balance),
            "slashed": self.slashed,
            "activation_eligibility_epoch": str(self.activation_eligibility_epoch),
            "activation_epoch": str(self.activation_epoch),
            "exit_epoch": str(self.exit_epoch),
            "withdrawable_epoch": str(self.withdrawable_epoch),
        }


# The statuses in the order of the conditions in `Registry.statuses`; the first match wins.
_SELECT_ORDER = (
    "pending_initialized",
    "pending_queued",
    "active_ongoing",
    "active_slashed",
    "active_exiting",
    "exited_slashed",
    "exited_unslashed",
    "withdrawal_possible",
    "withdrawal_done",
)


class Registry:
    """The validators and balances of one state, read from their SSZ bytes as numpy columns."""

    def __init__(self, state: Any) -> None:
        self._validators = encode(state.validators)
        self.table = np.frombuffer(self._validators, dtype=VALIDATOR_DTYPE)
        self.balances = np.frombuffer(encode(state.balances), dtype="<u8")
        self.count = len(self.table)
        self._hex: str | None = None
        self._by_pubkey: dict[bytes, int] | None = None

    def record(self, index: int) -> ValidatorRecord:
        start = index * VALIDATOR_SIZE
        raw = self._validators[start : start + VALIDATOR_SIZE]
        tail = _VALIDATOR_TAIL.unpack_from(raw, 80)
        return ValidatorRecord(index, raw[:48], raw[48:80], *tail)

    def pubkey(self, index: int) -> bytes:
        start = index * VALIDATOR_SIZE
        return self._validators[start : start + 48]

    def hex_field(self, index: int, offset: int, size: int) -> str:
        """Return `0x` and the hex of `size` bytes at `offset` of validator `index`'s record."""
        if self._hex is None:
            # One hex pass over the registry; each field is then a slice of it.
            self._hex = self._validators.hex()
        start = 2 * (index * VALIDATOR_SIZE + offset)
        return "0x" + self._hex[start : start + 2 * size]

    def index_of(self, pubkey: bytes) -> int | None:
        if self._by_pubkey is None:
            self._by_pubkey = {self.pubkey(index): index for index in range(self.count)}
        return self._by_pubkey.get(pubkey)

    def statuses(self, epoch: int, indices: np.ndarray) -> list[str]:
        """Return the Beacon API status at `epoch` of each validator in `indices`."""
        rows = self.table[indices]
        activation = rows["activation_epoch"]
        exit_epoch = rows["exit_epoch"]
        slashed = rows["slashed"].astype(bool)
        codes = np.select(
            [
                (activation > epoch) & (rows["activation_eligibility_epoch"] == FAR_FUTURE_EPOCH),
                activation > epoch,
                (epoch < exit_epoch) & (exit_epoch == FAR_FUTURE_EPOCH),
                (epoch < exit_epoch) & slashed,
                epoch < exit_epoch,
                (epoch < rows["withdrawable_epoch"]) & slashed,
                epoch < rows["withdrawable_epoch"],
                rows["effective_balance"] != 0,
            ],
            list(range(8)),
            default=8,
        )
        return [_SELECT_ORDER[code] for code in codes.tolist()]

    def resolve_ids(self, ids: Iterable[str]) -> list[int]:
        """Return the indices that validator ids (decimal index or 0x pubkey) name, in order.

        Unknown pubkeys and indices past the registry are left out, as the Beacon API
        specification requires. Duplicates are returned once.

        Raises:
            ApiError: 400 for an id that is neither an index nor a 48-byte pubkey.
        """
        seen: dict[int, None] = {}
        for text in ids:
            index = self._resolve_id(text)
            if index is not None and index < self.count:
                seen.setdefault(index, None)
        return list(seen)

    def _resolve_id(self, text: str) -> int | None:
        if text.startswith("0x"):
            try:
                pubkey = bytes.fromhex(text[2:])
            except ValueError:
                pubkey = b""
            if len(pubkey) != 48:
                message = f"invalid validator id {text[:100]!r}: expected a 48-byte pubkey"
                raise ApiError(400, message)
            return self.index_of(pubkey)
        if text.isdigit() and text.isascii():
            return parse_uint(text, "validator id")
        raise ApiError(400, f"invalid validator id {text[:100]!r}: expected an index or 0x pubkey")


def expand_statuses(statuses: Iterable[str]) -> set[str]:
    """Return the fine statuses that a status filter names, coarse groups expanded.

    Raises:
        ApiError: 400 for an unknown status.
    """
    wanted: set[str] = set()
    for status in statuses:
        if status in STATUS_GROUPS:
            wanted.update(STATUS_GROUPS[status])
        elif status in STATUSES:
            wanted.add(status)
        else:
            raise ApiError(400, f"invalid validator status {status!r}")
    return wanted


def _selected(registry: Registry, ids: list[str] | None) -> np.ndarray:
    if ids:
        return np.array(registry.resolve_ids(ids), dtype=np.int64)
    return np.arange(registry.count, dtype=np.int64)


# Registry work runs in slices of this many validators, so that no single numpy call holds the
# GIL long enough to stall the trio loop while a worker thread builds a large response.
SLICE = 4096
_EPOCH_COLUMNS = (
    "activation_eligibility_epoch",
    "activation_epoch",
    "exit_epoch",
    "withdrawable_epoch",
)


def validators_json(
    state: Any, epoch: int, ids: list[str] | None, statuses: list[str] | None
) -> list[dict[str, Any]]:
    """Return the `ValidatorResponse` items of a state, filtered by ids and statuses."""
    registry = Registry(state)
    selected = _selected(registry, ids)
    wanted = expand_statuses(statuses) if statuses else None
    items: list[dict[str, Any]] = []
    # A full registry is hundreds of thousands of new objects. Collections triggered by them
    # would scan every one while holding the GIL, so the loop thread would stall meanwhile.
    with _gc_paused():
        for start in range(0, len(selected), SLICE):
            _append_validators(registry, selected[start : start + SLICE], epoch, wanted, items)
    return items


def _append_validators(
    registry: Registry,
    indices: np.ndarray,
    epoch: int,
    wanted: set[str] | None,
    items: list[dict[str, Any]],
) -> None:
    status_of = registry.statuses(epoch, indices)
    if wanted is not None:
        keep = [position for position, status in enumerate(status_of) if status in wanted]
        indices = indices[keep]
        status_of = [status_of[position] for position in keep]

    rows = registry.table[indices]
    # numpy renders whole columns as decimal strings far faster than str() per value.
    effective = rows["effective_balance"].astype(str).tolist()
    epochs = [rows[name].astype(str).tolist() for name in _EPOCH_COLUMNS]
    balances = registry.balances[indices].astype(str).tolist()
    slashed = rows["slashed"].astype(bool).tolist()
    for position, index in enumerate(indices.tolist()):
        validator = {
            "pubkey": registry.hex_field(index, 0, 48),
            "withdrawal_credentials": registry.hex_field(index, 48, 32),
            "effective_balance": effective[position],
            "slashed": slashed[position],
            "activation_eligibility_epoch": epochs[0][position],
            "activation_epoch": epochs[1][position],
            "exit_epoch": epochs[2][position],
            "withdrawable_epoch": epochs[3][position],
        }
        items.append(
            {
                "index": str(index),
                "balance": balances[position],
                "status": status_of[position],
                "validator": validator,
            }
        )


def identities_json(state: Any, ids: list[str] | None) -> list[dict[str, str]]:
    """Return `{index, pubkey, activation_epoch}` items, every validator when `ids` is empty."""
    registry = Registry(state)
    indices = registry.resolve_ids(ids) if ids else range(registry.count)
    items = []
    for index in indices:
        record = registry.record(index)
        items.append(
            {
                "index": str(index),
                "pubkey": "0x" + record.pubkey.hex(),
                "activation_epoch": str(record.activation_epoch),
            }
        )
    return items


def balances_json(state: Any, ids: list[str] | None) -> list[dict[str, str]]:
    """Return `{index, balance}` items of a state, every validator when `ids` is empty."""
    registry = Registry(state)
    indices = _selected(registry, ids)
    balances = registry.balances[indices].astype(str).tolist()
    return [
        {"index": str(index), "balance": balance}
        for index, balance in zip(indices.tolist(), balances, strict=True)
    ]
