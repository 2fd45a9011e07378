"""Key-value storage for the execution engine, with layered write buffers.

py-evm reads and writes through its `DatabaseAPI`. The engine puts an
`Overlay` (an in-memory write buffer) between py-evm and a durable backend:
one overlay per batch, and one more per block on top of it. A block that
fails is dropped with its overlay. A block that passes is merged into the
batch overlay, which is written to the backend in one transaction. Deleted
keys are kept in an overlay as `None` tombstones.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Protocol

import lmdb
from eth.db.backends.base import BaseDB

from execution.errors import ExecutionStorageError

Changes = Mapping[bytes, bytes | None]

# 64 GiB of address space; LMDB only takes disk for pages it writes.
DEFAULT_LMDB_MAP_SIZE = 64 << 30


def write_failed(path: str, error: Exception) -> ExecutionStorageError:
    """Return the error for a failed commit, which stored nothing of its changes."""
    return ExecutionStorageError(
        "execution database write failed, nothing of this batch was stored; check free "
        "space, file size limits and permissions under the datadir",
        path=path,
        error=error,
    )


class KVBackend(Protocol):
    """A durable key-value store that applies a set of changes atomically."""

    def get_raw(self, key: bytes) -> bytes | None: ...

    def commit(self, changes: Changes) -> None:
        """Write every change (None deletes the key) in one atomic transaction."""
        ...

    def keys_with_prefix(self, prefix: bytes, start: bytes | None = None) -> Iterable[bytes]:
        """Return the keys that begin with `prefix`, in order, from `start` when given."""
        ...

    def close(self) -> None: ...


class MemoryBackend:
    """A dict-backed store for tests and throwaway chains; commits are atomic by construction."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.commits = 0

    def get_raw(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def commit(self, changes: Changes) -> None:
        for key, value in changes.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value
        self.commits += 1

    def keys_with_prefix(self, prefix: bytes, start: bytes | None = None) -> Iterable[bytes]:
        first = start if start is not None else prefix
        return sorted(k for k in self.data if k.startswith(prefix) and k >= first)

    def close(self) -> None:
        pass


class LMDBBackend:
    """An LMDB environment in directory `path`; each commit is one write transaction.

    `sync=False` skips the fsync at commit (faster; a crash can lose the last
    commits but never leaves a half-written one).
    """

    def __init__(self, path: str, map_size: int = DEFAULT_LMDB_MAP_SIZE, sync: bool = True):
        os.makedirs(path, exist_ok=True)
        try:
            self.env = lmdb.open(path, map_size=map_size, sync=sync, metasync=sync, max_dbs=0)
        except lmdb.Error as error:
            raise ExecutionStorageError("cannot open LMDB database", path=path) from error
        self.path = path
        self.commits = 0

    def get_raw(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(key)

    def commit(self, changes: Changes) -> None:
        try:
            with self.env.begin(write=True) as txn:
                for key, value in changes.items():
                    if value is None:
                        txn.delete(key)
                    else:
                        txn.put(key, value)
        except lmdb.MapFullError as error:
            raise ExecutionStorageError(
                "LMDB map is full; reopen with a larger map_size", path=self.path
            ) from error
        except lmdb.Error as error:
            # Commit failures other than a full map (ENOSPC, EIO, EFBIG) arrive as lmdb.Error.
            raise write_failed(self.path, error) from error
        self.commits += 1

    def keys_with_prefix(self, prefix: bytes, start: bytes | None = None) -> Iterable[bytes]:
        keys = []
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(start if start is not None else prefix):
                for key in cursor.iternext(keys=True, values=False):
                    if not key.startswith(prefix):
                        break
                    keys.append(bytes(key))
        return keys

    def close(self) -> None:
        self.env.close()


class LevelDBBackend:
    """A LevelDB database (plyvel) in directory `path`; each commit is one write batch."""

    def __init__(self, path: str, sync: bool = True) -> None:
        import plyvel

        try:
            self.db = plyvel.DB(path, create_if_missing=True)
        except plyvel.Error as error:
            raise ExecutionStorageError("cannot open LevelDB database", path=path) from error
        self.path = path
        self.sync = sync
        self.commits = 0

    def get_raw(self, key: bytes) -> bytes | None:
        return self.db.get(key)

    def commit(self, changes: Changes) -> None:
        import plyvel

        try:
            with self.db.write_batch(sync=self.sync) as batch:
                for key, value in changes.items():
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
        except plyvel.Error as error:
            raise write_failed(self.path, error) from error
        self.commits += 1

    def keys_with_prefix(self, prefix: bytes, start: bytes | None = None) -> Iterable[bytes]:
        if start is None:
            return list(self.db.iterator(prefix=prefix, include_value=False))
        keys = []
        for key in self.db.iterator(start=start, include_value=False):
            if not key.startswith(prefix):
                break
            keys.append(key)
        return keys

    def close(self) -> None:
        self.db.close()


class Overlay(BaseDB):
    """An in-memory write buffer over a parent overlay or backend."""

    def __init__(self, parent: Overlay | KVBackend) -> None:
        self.parent = parent
        self.pending: dict[bytes, bytes | None] = {}

    def get_raw(self, key: bytes) -> bytes | None:
        if key in self.pending:
            return self.pending[key]
        return self.parent.get_raw(key)

    def __getitem__(self, key: bytes) -> bytes:
        value = self.get_raw(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if self.get_raw(key) is None:
            raise KeyError(key)
        self.pending[key] = None

    def _exists(self, key: bytes) -> bool:
        return self.get_raw(key) is not None

    def merge_into_parent(self) -> None:
        """Move this overlay's changes into its parent overlay."""
        if not isinstance(self.parent, Overlay):
            raise TypeError("merge_into_parent needs an Overlay parent; use commit_to_backend")
        self.parent.pending.update(self.pending)
        self.pending = {}

    def commit_to_backend(self) -> None:
        """Write this overlay's changes to its backend parent in one transaction."""
        if isinstance(self.parent, Overlay):
            raise TypeError("commit_to_backend needs a backend parent; use merge_into_parent")
        if self.pending:
            self.parent.commit(self.pending)
        self.pending = {}
