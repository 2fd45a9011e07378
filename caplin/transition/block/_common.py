"""Checks shared by the block operations: uint64 range, validator indices, pubkey lookup."""

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from caplin.errors import BlockProcessingError, require
from caplin.transition.caches import validators_key
from caplin.transition.helpers import validator_table

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
# every later state of the same chain. Each hit is confirmed against the state, so a state of
# another chain falls back to indexing its registry.
_pubkey_indices: dict[bytes, int] = {}
_indexed_registry_root: bytes | None = None


def find_validator_index(state: Any, pubkey: bytes) -> int | None:
    """Return the index of the validator with `pubkey` in `state`, or None if there is none."""
    return find_validator_indices(state, [pubkey])[0]


def find_validator_indices(state: Any, pubkeys: Sequence[bytes]) -> list[int | None]:
    """Return `find_validator_index` of each of `pubkeys`, reading the registry table once."""
    global _indexed_registry_root
    table = validator_table(state)
    found: list[int | None] = []
    for pubkey in pubkeys:
        pubkey = bytes(pubkey)
        index = _confirmed_index(table, pubkey)
        if index is None:
            # A miss indexes every pubkey of the registry's column table, once per registry
            # root.
            registry_root = validators_key(state)
            if registry_root != _indexed_registry_root:
                packed = table.records["pubkey"].tobytes()
                # Iterate backwards so that the first of two equal pubkeys wins, as list.index
                # would.
                for position in range(len(table) - 1, -1, -1):
                    _pubkey_indices[packed[position * 48 : position * 48 + 48]] = position
                _indexed_registry_root = registry_root
                index = _confirmed_index(table, pubkey)
        found.append(index)
    return found


def _confirmed_index(table: Any, pubkey: bytes) -> int | None:
    index = _pubkey_indices.get(pubkey)
    if index is not None and index < len(table) and table.pubkey(index) == pubkey:
        return index
    return None


def remember_validator_index(pubkey: bytes, index: int) -> None:
    """Record the index of a validator just added, so the next lookup needs no scan."""
    _pubkey_indices[bytes(pubkey)] = index


def read_uint64_range(values: Any, start: int, count: int) -> np.ndarray:
    """Return `values[start : start + count]` of a `List[uint64, N]` view as a uint64 array."""
    return read_packed_range(values, start, count, np.dtype("<u8"))


def read_packed_range(values: Any, start: int, count: int, dtype: np.dtype) -> np.ndarray:
    """Return `values[start : start + count]` of a list of basic values as a numpy array.

    `dtype` is the little-endian numpy type of the elements. This reads only the leaf chunks
    that hold the range straight from the SSZ tree, because indexing the view costs
    microseconds per element and serializing a large list costs seconds.
    """
    if count <= 0:
        return np.zeros(0, dtype=dtype)
    require(start + count <= len(values), "packed_list.range", "range past the list end")
    per_chunk = 32 // dtype.itemsize
    first_chunk = start // per_chunk
    last_chunk = (start + count - 1) // per_chunk
    chunks: list[bytes] = []

    def collect(node: Any, depth: int, offset: int) -> None:
        span = 1 << depth
        if offset > last_chunk or offset + span <= first_chunk:
            return
        if depth == 0:
            chunks.append(bytes(node.merkle_root()))
            return
        collect(node.get_left(), depth - 1, offset)
        collect(node.get_right(), depth - 1, offset + span // 2)

    collect(values.get_backing().get_left(), type(values).contents_depth(), 0)
    words = np.frombuffer(b"".join(chunks), dtype=dtype)
    skip = start - first_chunk * per_chunk
    return words[skip : skip + count]
