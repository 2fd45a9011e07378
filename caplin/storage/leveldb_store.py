"""The LevelDB engine (plyvel): tables are key prefixes, writes are atomic batches."""

import errno
import heapq
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import plyvel

from caplin.errors import StorageError

_DELETED = None


def _prefix(table: str) -> bytes:
    name = table.encode()
    return bytes([len(name)]) + name


class _ReadTxn:
    def __init__(self, snapshot, prefixes: dict[str, bytes]) -> None:
        self._snapshot = snapshot
        self._prefixes = prefixes

    def _table_prefix(self, table: str) -> bytes:
        try:
            return self._prefixes[table]
        except KeyError:
            raise StorageError("unknown table", table=table) from None

    def get(self, table: str, key: bytes) -> bytes | None:
        return self._snapshot.get(self._table_prefix(table) + key)

    def _stored_items(
        self, table: str, start: bytes, stop: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        prefix = self._table_prefix(table)
        upper = prefix + stop if stop is not None else _next_prefix(prefix)
        iterator = self._snapshot.iterator(start=prefix + start, stop=upper, reverse=reverse)
        for key, value in iterator:
            yield key[len(prefix) :], value

    def items(
        self, table: str, start: bytes = b"", stop: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._stored_items(table, start, stop, reverse)


def _next_prefix(prefix: bytes) -> bytes:
    # Table prefixes end in a name byte below 0xff, so incrementing the last byte is safe.
    return prefix[:-1] + bytes([prefix[-1] + 1])


class _WriteTxn(_ReadTxn):
    """Buffers writes so the transaction reads its own writes, then commits one batch."""

    def __init__(self, snapshot, prefixes: dict[str, bytes]) -> None:
        super().__init__(snapshot, prefixes)
        self.pending: dict[str, dict[bytes, bytes | None]] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        overlay = self.pending.get(table, {})
        if key in overlay:
            return overlay[key]
        return super().get(table, key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self._table_prefix(table)
        self.pending.setdefault(table, {})[bytes(key)] = bytes(value)

    def delete(self, table: str, key: bytes) -> None:
        self._table_prefix(table)
        self.pending.setdefault(table, {})[bytes(key)] = _DELETED

    def items(
        self, table: str, start: bytes = b"", stop: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        overlay = self.pending.get(table)
        stored = self._stored_items(table, start, stop, reverse)
        if not overlay:
            yield from stored
            return
        in_range = sorted(
            (key, value)
            for key, value in overlay.items()
            if key >= start and (stop is None or key < stop)
        )
        if reverse:
            in_range.reverse()
        # Merge stored and buffered entries in key order; a buffered entry wins.
        tagged_stored = ((key, 1, value) for key, value in stored if key not in overlay)
        tagged_overlay = ((key, 0, value) for key, value in in_range)
        merged = heapq.merge(tagged_stored, tagged_overlay, reverse=reverse)
        for key, _, value in merged:
            if value is not _DELETED:
                yield key, value

    def commit_to(self, db) -> None:
        with db.write_batch(transaction=True, sync=True) as batch:
            for table, entries in self.pending.items():
                prefix = self._prefixes[table]
                for key, value in entries.items():
                    if value is _DELETED:
                        batch.delete(prefix + key)
                    else:
                        batch.put(prefix + key, value)


class LevelDbStore:
    engine = "leveldb"

    def __init__(self, path: str | Path, tables: list[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(self.path), create_if_missing=True, paranoid_checks=True)
        except plyvel.Error as error:
            raise StorageError(
                "cannot open LevelDB database; check the path and permissions, or move a corrupt "
                "datadir aside",
                path=self.path,
                error=error,
            ) from error
        self._prefixes = {name: _prefix(name) for name in tables}

    @contextmanager
    def read(self) -> Iterator[_ReadTxn]:
        snapshot = self._db.snapshot()
        try:
            yield _ReadTxn(snapshot, self._prefixes)
        finally:
            snapshot.close()

    @contextmanager
    def write(self) -> Iterator[_WriteTxn]:
        snapshot = self._db.snapshot()
        try:
            txn = _WriteTxn(snapshot, self._prefixes)
            yield txn
            try:
                txn.commit_to(self._db)
            except plyvel.IOError as error:
                raise StorageError(
                    "disk write failed; free disk space under the datadir",
                    path=self.path,
                    error=error,
                ) from error
            except OSError as error:
                if error.errno == errno.ENOSPC:
                    raise StorageError(
                        "disk full; free space under the datadir", path=self.path
                    ) from error
                raise
        finally:
            snapshot.close()

    def close(self) -> None:
        self._db.close()
