"""The key-value engines: both must give the same guarantees."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from caplin.errors import StorageError
from caplin.storage import ENGINES, open_store

TABLES = ["blocks", "states"]


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    opened = open_store(tmp_path / "db", TABLES, engine=request.param)
    yield opened
    opened.close()


def test_put_then_get(store) -> None:
    with store.write() as txn:
        txn.put("blocks", b"a", b"1")
    with store.read() as txn:
        assert txn.get("blocks", b"a") == b"1"
        assert txn.get("states", b"a") is None


def test_exception_aborts_whole_write(store) -> None:
    with store.write() as txn:
        txn.put("blocks", b"kept", b"1")
    with pytest.raises(RuntimeError):
        with store.write() as txn:
            txn.put("blocks", b"lost", b"2")
            txn.delete("blocks", b"kept")
            raise RuntimeError("abort")
    with store.read() as txn:
        assert txn.get("blocks", b"lost") is None
        assert txn.get("blocks", b"kept") == b"1"


def test_write_reads_own_writes(store) -> None:
    with store.write() as txn:
        txn.put("blocks", b"a", b"1")
        assert txn.get("blocks", b"a") == b"1"
        txn.delete("blocks", b"a")
        assert txn.get("blocks", b"a") is None


def test_read_snapshot_is_stable(store) -> None:
    with store.write() as txn:
        txn.put("blocks", b"a", b"old")
    with store.read() as reader:
        with store.write() as writer:
            writer.put("blocks", b"a", b"new")
        assert reader.get("blocks", b"a") == b"old"
    with store.read() as reader:
        assert reader.get("blocks", b"a") == b"new"


def test_items_order_and_bounds(store) -> None:
    with store.write() as txn:
        for key in (b"\x03", b"\x01", b"\x02", b"\x05"):
            txn.put("blocks", key, key * 2)
        txn.put("states", b"\x04", b"other table")
    with store.read() as txn:
        assert [k for k, _ in txn.items("blocks")] == [b"\x01", b"\x02", b"\x03", b"\x05"]
        assert [k for k, _ in txn.items("blocks", b"\x02", b"\x05")] == [b"\x02", b"\x03"]
        assert [k for k, _ in txn.items("blocks", reverse=True)] == [
            b"\x05",
            b"\x03",
            b"\x02",
            b"\x01",
        ]
        assert [k for k, _ in txn.items("blocks", b"\x02", b"\x05", reverse=True)] == [
            b"\x03",
            b"\x02",
        ]
        assert list(txn.items("states")) == [(b"\x04", b"other table")]


def test_items_inside_write_merge_pending(store) -> None:
    with store.write() as txn:
        txn.put("blocks", b"\x01", b"a")
        txn.put("blocks", b"\x03", b"c")
    with store.write() as txn:
        txn.put("blocks", b"\x02", b"b")
        txn.delete("blocks", b"\x03")
        txn.put("blocks", b"\x01", b"A")
        assert list(txn.items("blocks")) == [(b"\x01", b"A"), (b"\x02", b"b")]
        assert list(txn.items("blocks", reverse=True)) == [(b"\x02", b"b"), (b"\x01", b"A")]


def test_unknown_table_is_an_error(store) -> None:
    with store.read() as txn:
        with pytest.raises(StorageError, match="unknown table"):
            txn.get("nosuch", b"a")


def test_data_survives_reopen(tmp_path: Path) -> None:
    for engine in ENGINES:
        path = tmp_path / engine
        first = open_store(path, TABLES, engine=engine)
        with first.write() as txn:
            txn.put("blocks", b"a", b"1")
        first.close()
        second = open_store(path, TABLES, engine=engine)
        with second.read() as txn:
            assert txn.get("blocks", b"a") == b"1"
        second.close()


def test_engine_mismatch_is_rejected(tmp_path: Path) -> None:
    open_store(tmp_path / "db", TABLES, engine="lmdb").close()
    with pytest.raises(StorageError, match="--db.engine=lmdb"):
        open_store(tmp_path / "db", TABLES, engine="leveldb")


def test_unknown_engine_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unknown database engine"):
        open_store(tmp_path / "db", TABLES, engine="sqlite")


_WRITER = textwrap.dedent(
    """
    import sys
    from caplin.storage import open_store
    store = open_store(sys.argv[1], ["blocks"], engine=sys.argv[2])
    batch = 0
    while True:
        with store.write() as txn:
            for item in range(50):
                txn.put("blocks", b"%08d-%03d" % (batch, item), b"x" * 200)
            txn.put("blocks", b"~last", b"%08d" % batch)
        if batch == 0:
            print("ready", flush=True)
        batch += 1
    """
)


@pytest.mark.parametrize("engine", ENGINES)
def test_kill_during_writes_keeps_whole_batches(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "db"
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), engine], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(0.5)
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait(timeout=10)
    store = open_store(path, ["blocks"], engine=engine)
    with store.read() as txn:
        last = int(txn.get("blocks", b"~last"))
        keys = [key for key, _ in txn.items("blocks", stop=b"~")]
    store.close()
    assert last >= 0
    # Every committed batch is complete and nothing of a later batch exists.
    assert len(keys) == (last + 1) * 50
    assert keys[-1] == b"%08d-049" % last
