"""Checks shared by the block operations: uint64 range, validator indices, pubkey lookup."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from caplin.errors import BlockProcessingError, require

F = TypeVar("F", bound=Callable[..., Any])

UINT64_MAX = 2**64 - 1


def uint64_checked(rule: str) -> Callable[[F], F]:
    """Turn a uint64 overflow or underflow inside an operation into a `BlockProcessingError`.

    The state works in plain ints and the SSZ views raise `ValueError` when a value outside
    uint64 is assigned, which the spec treats as an invalid block.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            try:
                return function(*args, **kwargs)
            except BlockProcessingError:
                raise
            except (ValueError, OverflowError) as error:
                raise BlockProcessingError(rule, f"uint64 out of range: {error}") from error

        return checked  # type: ignore[return-value]

    return decorate


def require_validator_index(state: Any, index: int, rule: str) -> None:
    """Raise `BlockProcessingError(rule)` unless `index` names a validator of `state`."""
    count = len(state.validators)
    require(index < count, rule, "validator index out of range", index=index, validators=count)


# Pubkeys never change once a validator is added, so an index found once stays right for
# every state of the same chain; each hit is confirmed against the state, so a state of
# another chain falls back to a scan.
_pubkey_indices: dict[bytes, int] = {}


def find_validator_index(state: Any, pubkey: bytes) -> int | None:
    """Return the index of the validator with `pubkey` in `state`, or None if there is none."""
    pubkey = bytes(pubkey)
    validators = state.validators
    count = len(validators)
    index = _pubkey_indices.get(pubkey)
    if index is not None and index < count and bytes(validators[index].pubkey) == pubkey:
        return index

    found = None
    for position, validator in enumerate(validators):
        key = bytes(validator.pubkey)
        _pubkey_indices[key] = position
        if key == pubkey and found is None:
            found = position
    return found


def remember_validator_index(pubkey: bytes, index: int) -> None:
    """Record the index of a validator just added, so the next lookup needs no scan."""
    _pubkey_indices[bytes(pubkey)] = index
