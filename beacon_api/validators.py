"""Validator statuses, id matching and balances read from a state's SSZ bytes.

Reading a registry through remerkleable views costs a few microseconds per field, so for
large registries the routes read the validators list and balances from their SSZ encoding.
"""

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.errors import ApiError
from caplin.types.ssz import encode

# Validator container: pubkey 48, withdrawal_credentials 32, effective_balance 8, slashed 1,
# then four epochs of 8 bytes.
VALIDATOR_SIZE = 121
_VALIDATOR_TAIL = struct.Struct("<Q?QQQQ")

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


class Registry:
    """The validators and balances of one state, decoded lazily from SSZ bytes."""

    def __init__(self, state: Any) -> None:
        self._validators = encode(state.validators)
        balances = encode(state.balances)
        self.balances = struct.unpack(f"<{len(balances) // 8}Q", balances)
        self.count = len(self._validators) // VALIDATOR_SIZE
        self._by_pubkey: dict[bytes, int] | None = None

    def record(self, index: int) -> ValidatorRecord:
        start = index * VALIDATOR_SIZE
        raw = self._validators[start : start + VALIDATOR_SIZE]
        tail = _VALIDATOR_TAIL.unpack_from(raw, 80)
        return ValidatorRecord(index, raw[:48], raw[48:80], *tail)

    def pubkey(self, index: int) -> bytes:
        start = index * VALIDATOR_SIZE
        return self._validators[start : start + 48]

    def index_of(self, pubkey: bytes) -> int | None:
        if self._by_pubkey is None:
            self._by_pubkey = {self.pubkey(index): index for index in range(self.count)}
        return self._by_pubkey.get(pubkey)

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
                raise ApiError(400, f"invalid validator id {text!r}: expected a 48-byte pubkey")
            return self.index_of(pubkey)
        if text.isdigit() and text.isascii():
            return int(text)
        raise ApiError(400, f"invalid validator id {text!r}: expected an index or 0x pubkey")


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


def validators_json(
    state: Any, epoch: int, ids: list[str] | None, statuses: list[str] | None
) -> list[dict[str, Any]]:
    """Return the `ValidatorResponse` items of a state, filtered by ids and statuses."""
    registry = Registry(state)
    wanted = expand_statuses(statuses) if statuses else None
    indices = registry.resolve_ids(ids) if ids else range(registry.count)
    items = []
    for index in indices:
        record = registry.record(index)
        status = record.status(epoch)
        if wanted is not None and status not in wanted:
            continue
        items.append(
            {
                "index": str(index),
                "balance": str(registry.balances[index]),
                "status": status,
                "validator": record.to_json(),
            }
        )
    return items


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
    indices = registry.resolve_ids(ids) if ids else range(registry.count)
    return [{"index": str(index), "balance": str(registry.balances[index])} for index in indices]
