"""The LMDB engine: memory-mapped, MVCC readers, crash-safe commits."""

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lmdb

from caplin.errors import MapGrownError, StorageError

log = logging.getLogger(__name__)

# LMDB reserves address space, not disk: the map starts at 1 GiB and doubles
# whenever a write transaction runs out of room, up to 1 TiB.
_INITIAL_MAP_SIZE = 1 << 30
_MAX_MAP_SIZE = 1 << 40


class _Txn:
    def __init__(self, txn: lmdb.Transaction, tables: dict[str, object]) -> None:
        self._txn = txn
        self._tables = tables

    def _db(self, table: str) -> object:
        try:
            return self._tables[table]
        except KeyError:
            raise StorageError("unknown table", table=table) from None

    def get(self, table: str, key: bytes) -> bytes | None:
        value = self._txn.get(key, db=self._db(table))
        return None if value is None else bytes(value)

    def items(
        self, table: str, start: bytes = b"", stop: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        cursor = self._txn.cursor(db=self._db(table))
        if not reverse:
            if not cursor.set_range(start):
                return
            for key, value in cursor:
                if stop is not None and key >= stop:
                    return
                yield bytes(key), bytes(value)
            return
        if stop is None:
            positioned = cursor.last()
        elif cursor.set_range(stop):
            positioned = cursor.prev()
        else:
            positioned = cursor.last()
        while positioned:
            key = cursor.key()
            if key < start:
                return
            yield bytes(key), bytes(cursor.value())
            positioned = cursor.prev()

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self._txn.put(key, value, db=self._db(table))

    def delete(self, table: str, key: bytes) -> None:
        self._txn.delete(key, db=self._db(table))


def _check_file_size(env: lmdb.Environment, path: Path) -> None:
    # LMDB trusts its meta page: reading a page past the end of a truncated data.mdb kills
    # the process with SIGBUS instead of raising, so compare sizes before the first read.
    page_size = env.stat()["psize"]
    expected = (env.info()["last_pgno"] + 1) * page_size
    actual = (path / "data.mdb").stat().st_size
    if actual < expected:
        raise StorageError(
            "LMDB database file is truncated; restore the datadir from a copy or move it "
            "aside and start again",
            path=path,
            size=actual,
            expected_size=expected,
        )


def check_lmdb_file(path: str | Path) -> None:
    """Raise StorageError when the LMDB environment in directory `path` has a truncated file.

    For environments that other code opens (the execution database), so they fail with a
    message instead of SIGBUS. A directory without `data.mdb` passes.
    """
    path = Path(path)
    if not (path / "data.mdb").exists():
        return
    try:
        env = lmdb.open(str(path), readonly=True, lock=False, max_dbs=0, subdir=True)
    except lmdb.Error as error:
        raise StorageError("cannot open LMDB database", path=path, error=error) from error
    try:
        _check_file_size(env, path)
    finally:
        env.close()


class LmdbStore:
    engine = "lmdb"

    def __init__(self, path: str | Path, tables: list[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            self._env = lmdb.open(
                str(self.path),
                map_size=_INITIAL_MAP_SIZE,
                max_dbs=max(len(tables), 1),
                subdir=True,
            )
        except lmdb.Error as error:
            raise StorageError(
                "cannot open LMDB database; check the path and permissions, or move a corrupt "
                "datadir aside",
                path=self.path,
                error=error,
            ) from error
        try:
            _check_file_size(self._env, self.path)
        except StorageError:
            self._env.close()
            raise
        self._tables = {name: self._env.open_db(name.encode()) for name in tables}

    @contextmanager
    def read(self) -> Iterator[_Txn]:
        with self._env.begin(write=False, buffers=False) as txn:
            yield _Txn(txn, self._tables)

    @contextmanager
    def write(self) -> Iterator[_Txn]:
        txn = self._env.begin(write=True)
        try:
            yield _Txn(txn, self._tables)
            txn.commit()
        except lmdb.MapFullError:
            txn.abort()
            self._grow()
            raise MapGrownError(
                "database map was full; it has been enlarged, retry the write", path=self.path
            ) from None
        except lmdb.DiskError as error:
            txn.abort()
            raise StorageError(
                "disk write failed; free disk space under the datadir", path=self.path, error=error
            ) from error
        except OSError as error:
            txn.abort()
            if error.errno == errno.ENOSPC:
                raise StorageError(
                    "disk full; free space under the datadir", path=self.path
                ) from error
            raise StorageError(
                "disk write failed; check free space, file size limits and permissions under "
                "the datadir",
                path=self.path,
                error=error,
            ) from error
        except lmdb.Error as error:
            # Commit failures other than the ones above (EIO, EFBIG) arrive as plain lmdb.Error.
            txn.abort()
            raise StorageError(
                "disk write failed; check free space, file size limits and permissions under "
                "the datadir",
                path=self.path,
                error=error,
            ) from error
        except BaseException:
            txn.abort()
            raise

    def write_retrying(self, apply) -> None:
        """Run `apply(txn)` in a write transaction, once more after growing a full map."""
        try:
            with self.write() as txn:
                apply(txn)
        except MapGrownError:
            with self.write() as txn:
                apply(txn)

    def _grow(self) -> None:
        current = self._env.info()["map_size"]
        if current >= _MAX_MAP_SIZE:
            raise StorageError(
                "database reached its maximum map size", path=self.path, size=current
            )
        new_size = min(current * 2, _MAX_MAP_SIZE)
        self._env.set_mapsize(new_size)
        log.info("lmdb map enlarged path=%s size=%d", self.path, new_size)

    def close(self) -> None:
        self._env.close()
