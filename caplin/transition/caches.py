"""Bounded memo caches for the state-transition helpers.

The spec recomputes active validator sets, shufflings and proposer indices
from scratch on every call. These caches store the results, keyed by the
inputs they are a pure function of: the hash tree root of `state.validators`
(which changes whenever any validator field changes), the epoch, and the
seed. A mutated state therefore never sees a stale value, and states that
share history (copies, forks of a chain) share entries.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class LruCache[V]:
    """A dict that drops its least recently used entry beyond `capacity` entries.

    Safe to share between threads: the entries are guarded by a lock, but `compute` runs
    outside it, so two threads that miss on one key at once may both compute it.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        return value

    def values(self) -> list[V]:
        """Return the cached values, least recently used first."""
        with self._lock:
            return list(self._entries.values())

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Active sets and shufflings keep one Python int per validator, about 36 MB per entry at a
# million validators. So few entries are kept: a block or an epoch needs the previous,
# current and next epoch of one or two registry versions.
active_indices_cache: LruCache[tuple[int, ...]] = LruCache(16)
shuffling_cache: LruCache[tuple[int, ...]] = LruCache(16)
proposer_cache: LruCache[int] = LruCache(1024)
total_active_balance_cache: LruCache[int] = LruCache(256)
sync_committee_cache: LruCache[Any] = LruCache(16)

ALL_CACHES = (
    active_indices_cache,
    shuffling_cache,
    proposer_cache,
    total_active_balance_cache,
    sync_committee_cache,
)


def clear_all() -> None:
    """Drop every cached entry (for tests and memory pressure)."""
    for cache in ALL_CACHES:
        cache.clear()


def validators_key(state: Any) -> bytes:
    """Return the cache key of everything derived from `state.validators`: its hash tree root."""
    return bytes(state.validators.hash_tree_root())
