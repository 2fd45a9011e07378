"""A small key-value interface over named tables, with transactions.

Two engines implement it: LMDB (`caplin.storage.lmdb_store`, the default) and
LevelDB (`caplin.storage.leveldb_store`). Both give the same guarantees, which
`tests/storage` checks on each:

- a write transaction is atomic: either every put and delete in it lands, or
  none does (an exception inside the `with` block aborts it);
- a write transaction reads its own uncommitted writes;
- a read transaction sees one consistent snapshot, unaffected by writes that
  commit after it began;
- keys iterate in lexicographic byte order within a table.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Protocol


class ReadTxn(Protocol):
    def get(self, table: str, key: bytes) -> bytes | None:
        """Return the value stored under `key` in `table`, or None."""
        ...

    def items(
        self, table: str, start: bytes = b"", stop: bytes | None = None, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) pairs with start <= key < stop, ascending unless `reverse`."""
        ...


class WriteTxn(ReadTxn, Protocol):
    def put(self, table: str, key: bytes, value: bytes) -> None: ...

    def delete(self, table: str, key: bytes) -> None:
        """Remove `key` from `table`; a missing key is not an error."""
        ...


class KVStore(Protocol):
    """An open database. Tables must be declared when it is opened."""

    engine: str

    def read(self) -> AbstractContextManager[ReadTxn]: ...

    def write(self) -> AbstractContextManager[WriteTxn]:
        """Begin a write transaction; it commits when the `with` block ends without error."""
        ...

    def close(self) -> None: ...
