"""Execution genesis, the dev accounts, and the LMDB and LevelDB backends."""

import json
import subprocess
import sys

import pytest
from execution_testkit import ACCOUNTS, build_chain, genesis

from caplin.errors import ConfigError
from execution.engine import EmbeddedEngine
from execution.errors import ExecutionStorageError
from execution.genesis import (
    DEV_ACCOUNT_BALANCE,
    dev_accounts,
    parse_genesis,
    system_contracts,
)
from execution.storage import LevelDBBackend, LMDBBackend, MemoryBackend, Overlay


def test_dev_account_zero_address():
    address, _ = dev_accounts()[0]
    assert "0x" + address.hex() == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".lower()
    assert len(dev_accounts()) == 10


def test_dev_genesis_funds_accounts_and_deploys_system_contracts():
    engine = EmbeddedEngine.in_memory(genesis())
    state = engine.state_at(engine.head())
    for address, _ in ACCOUNTS:
        assert state.get_balance(address) == DEV_ACCOUNT_BALANCE
    for name, (address, code) in system_contracts().items():
        assert state.get_code(address) == code, name
        assert state.get_nonce(address) == 1, name


def test_geth_genesis_file(tmp_path):
    geth = {
        "config": {"chainId": 7777, "pragueTime": 0, "depositContractAddress": "0x" + "42" * 20},
        "gasLimit": "0x1c9c380",
        "timestamp": "0x10",
        "baseFeePerGas": "0x7",
        "alloc": {
            "00000000000000000000000000000000000000aa": {"balance": "0x100"},
            "0x00000000000000000000000000000000000000bb": {
                "code": "0x6001",
                "nonce": "0x2",
                "storage": {"0x01": "0x05"},
            },
        },
    }
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(geth))
    parsed = parse_genesis(str(path))
    assert parsed.chain_id == 7777
    assert parsed.gas_limit == 30_000_000
    assert parsed.deposit_contract_address == b"\x42" * 20
    engine = EmbeddedEngine.in_memory(parsed)
    head = engine.head()
    assert head.timestamp == 16
    assert head.base_fee_per_gas == 7
    state = engine.state_at(head)
    assert state.get_balance(b"\x00" * 19 + b"\xaa") == 0x100
    assert state.get_code(b"\x00" * 19 + b"\xbb") == b"\x60\x01"
    assert state.get_storage(b"\x00" * 19 + b"\xbb", 1) == 5
    assert state.get_code(system_contracts()["beacon_roots"][0]) != b""


def test_pre_prague_genesis_is_rejected():
    with pytest.raises(ConfigError):
        parse_genesis({"config": {"chainId": 1, "pragueTime": 100}, "timestamp": "0x0"})
    with pytest.raises(ConfigError):
        parse_genesis({"config": {}})


@pytest.mark.parametrize("backend_class", [LMDBBackend, LevelDBBackend])
def test_backend_commit_is_atomic_and_durable(tmp_path, backend_class):
    backend = backend_class(str(tmp_path / "db"))
    backend.commit({b"a": b"1", b"b": b"2"})
    backend.commit({b"a": None, b"c": b"3"})
    assert backend.get_raw(b"a") is None
    assert backend.get_raw(b"b") == b"2"
    assert list(backend.keys_with_prefix(b"")) == [b"b", b"c"]
    assert list(backend.keys_with_prefix(b"", start=b"bb")) == [b"c"]
    backend.close()
    reopened = backend_class(str(tmp_path / "db"))
    assert reopened.get_raw(b"c") == b"3"
    reopened.close()


def test_memory_backend_prefix_order():
    backend = MemoryBackend()
    backend.commit({b"p2": b"", b"p1": b"", b"q1": b""})
    assert list(backend.keys_with_prefix(b"p")) == [b"p1", b"p2"]
    assert list(backend.keys_with_prefix(b"p", start=b"p2")) == [b"p2"]


def test_overlay_layers():
    backend = MemoryBackend()
    backend.commit({b"k": b"base"})
    batch = Overlay(backend)
    block = Overlay(batch)

    block[b"k"] = b"block"
    assert block[b"k"] == b"block"
    assert batch.get_raw(b"k") == b"base"

    block.merge_into_parent()
    assert batch.get_raw(b"k") == b"block"
    assert backend.get_raw(b"k") == b"base"

    del batch[b"k"]
    assert b"k" not in batch
    batch.commit_to_backend()
    assert backend.get_raw(b"k") is None
    assert backend.commits == 2


def test_lmdb_engine_reopens_at_head(tmp_path):
    chain = build_chain(blocks=2, transfers=1, with_requests=False)
    path = str(tmp_path / "exec")
    engine = EmbeddedEngine.open_lmdb(path, genesis())
    engine.execute_batch([b.request for b in chain.built])
    head = engine.head().hash
    engine.close()

    reopened = EmbeddedEngine.open_lmdb(path)
    assert reopened.head().hash == head
    assert reopened.chain_id == 31337
    reopened.close()


def test_lmdb_engine_rejects_other_genesis(tmp_path):
    path = str(tmp_path / "exec")
    EmbeddedEngine.open_lmdb(path, genesis()).close()
    other = parse_genesis({"config": {"chainId": 5}, "alloc": {}})
    with pytest.raises(ExecutionStorageError):
        EmbeddedEngine.open_lmdb(path, other)


FILE_SIZE_LIMIT_SCRIPT = """
import os, resource, signal, sys
from execution.errors import ExecutionStorageError
from execution.storage import LevelDBBackend, LMDBBackend

backend = {"lmdb": LMDBBackend, "leveldb": LevelDBBackend}[sys.argv[1]](sys.argv[2])
backend.commit({b"kept": b"1"})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
try:
    backend.commit({os.urandom(32): os.urandom(1000) for _ in range(5000)})
except ExecutionStorageError as error:
    print("rejected:", error)
print("kept:", backend.get_raw(b"kept"))
"""


@pytest.mark.parametrize("engine", ["lmdb", "leveldb"])
def test_backend_write_failure_names_fix(tmp_path, engine):
    # A 1 MiB file size limit makes the real write fail as a full disk does.
    result = subprocess.run(
        [sys.executable, "-c", FILE_SIZE_LIMIT_SCRIPT, engine, str(tmp_path / "db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "rejected: execution database write failed" in result.stdout
    assert "free" in result.stdout
    assert "kept: b'1'" in result.stdout
