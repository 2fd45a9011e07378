"""Embedded storage: a key-value interface with LMDB and LevelDB engines."""

from pathlib import Path

from caplin.errors import StorageError
from caplin.storage.kv import KVStore, ReadTxn, WriteTxn

ENGINES = ("lmdb", "leveldb")


def open_store(path: str | Path, tables: list[str], engine: str = "lmdb") -> KVStore:
    """Open (creating if needed) the database at `path` with the given tables.

    Raises StorageError when `engine` is unknown, when `path` contains a database
    of the other engine, or when the engine cannot open it.
    """
    path = Path(path)
    if engine not in ENGINES:
        choices = ", ".join(ENGINES)
        raise StorageError(f"unknown database engine; use one of {choices}", engine=engine)
    other = _detect_engine(path)
    if other is not None and other != engine:
        raise StorageError(
            f"datadir contains a {other} database; start with --db.engine={other} or use another "
            "datadir",
            path=path,
            requested=engine,
        )
    if engine == "lmdb":
        from caplin.storage.lmdb_store import LmdbStore

        return LmdbStore(path, tables)
    from caplin.storage.leveldb_store import LevelDbStore

    return LevelDbStore(path, tables)


def _detect_engine(path: Path) -> str | None:
    if (path / "data.mdb").exists():
        return "lmdb"
    if (path / "CURRENT").exists():
        return "leveldb"
    return None


__all__ = ["ENGINES", "KVStore", "ReadTxn", "WriteTxn", "open_store"]
