"""Mistakes a new user makes: bad flags, bad config files, a datadir used twice.

Each must fail before the node starts, naming the value and the fix.
"""

import os

import pytest

from caplin.cli import parse_args
from caplin.errors import CaplinError, StorageError
from caplin.node.setup import DevParameters, open_dev_chain
from caplin.storage.beacon_db import BeaconDB

PORT_FLAGS = [
    "--beacon.api.port",
    "--http.port",
    "--metrics.port",
    "--caplin.discovery.port",
    "--caplin.discovery.tcpport",
]


@pytest.mark.parametrize("flag", PORT_FLAGS)
@pytest.mark.parametrize("value", ["99999", "-1", "65536", "abc"])
def test_port_out_of_range_rejected(capsys, flag, value):
    with pytest.raises(SystemExit) as raised:
        parse_args([f"{flag}={value}"])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert flag in error
    assert f"invalid port '{value}'" in error
    assert "0..65535" in error


def test_port_zero_and_max_accepted():
    args = parse_args(["--beacon.api.port=0", "--http.port=65535"])
    assert args.api_port == 0
    assert args.http_port == 65535


def _config_error(tmp_path, text):
    path = tmp_path / "caplin.toml"
    path.write_text(text)
    with pytest.raises(CaplinError) as raised:
        parse_args([f"--config={path}"])
    return str(raised.value)


def test_config_float_for_int_rejected(tmp_path):
    message = _config_error(tmp_path, '"dev.validators" = 1.5\n')
    assert "invalid value in the config file" in message
    assert "dev.validators" in message


def test_config_boolean_for_int_rejected(tmp_path):
    message = _config_error(tmp_path, "[dev]\nvalidators = true\n")
    assert "not a boolean" in message
    assert "dev.validators" in message


def test_config_port_out_of_range_rejected(tmp_path):
    message = _config_error(tmp_path, '"beacon.api.port" = 99999\n')
    assert "beacon.api.port" in message
    assert "0..65535" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [("db.engine", "rocksdb"), ("dev.genesis-fork", "gloas"), ("dev.preset", "tiny")],
)
def test_config_value_outside_choices_rejected(tmp_path, key, value):
    message = _config_error(tmp_path, f'"{key}" = "{value}"\n')
    assert "invalid value in the config file" in message
    assert key in message
    assert value in message
    assert "choices=" in message


def test_config_boolean_flag_accepts_boolean(tmp_path):
    path = tmp_path / "caplin.toml"
    path.write_text("metrics = true\n")
    assert parse_args([f"--config={path}"]).metrics is True


@pytest.mark.parametrize("engine", ["lmdb", "leveldb"])
def test_datadir_in_use_rejected(tmp_path, engine):
    first = BeaconDB.open(tmp_path / "beacon", engine)
    try:
        with pytest.raises(StorageError) as raised:
            BeaconDB.open(tmp_path / "beacon", engine)
        message = str(raised.value)
        assert "in use by another process" in message
        assert str(tmp_path / "beacon") in message
        assert f"pid={os.getpid()}" in message
    finally:
        first.close()

    # Closing releases the lock, so a restart opens the same datadir.
    again = BeaconDB.open(tmp_path / "beacon", engine)
    again.close()


def test_dev_chain_second_open_rejected(tmp_path):
    parameters = DevParameters(validators=4)
    first = open_dev_chain(tmp_path, parameters, genesis_delay=0)
    try:
        with pytest.raises(StorageError):
            open_dev_chain(tmp_path, parameters, genesis_delay=0)
    finally:
        first.close()


def test_truncated_lmdb_file_rejected(tmp_path):
    path = tmp_path / "beacon"
    db = BeaconDB.open(path, "lmdb")
    with db.kv.write() as txn:
        for index in range(2000):
            txn.put("blocks", index.to_bytes(8, "big"), bytes(200))
    db.close()
    data_file = path / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size // 2)

    # Without the size check LMDB reads past the end of its map and the process dies of SIGBUS.
    with pytest.raises(StorageError) as raised:
        BeaconDB.open(path, "lmdb")
    message = str(raised.value)
    assert "truncated" in message
    assert str(path) in message

    # The failed open released the datadir lock, so a second try fails the same way.
    with pytest.raises(StorageError) as raised:
        BeaconDB.open(path, "lmdb")
    assert "truncated" in str(raised.value)


def test_truncated_execution_file_rejected(tmp_path):
    parameters = DevParameters(validators=4)
    open_dev_chain(tmp_path, parameters, genesis_delay=0).close()
    data_file = tmp_path / "execution" / "data.mdb"
    os.truncate(data_file, data_file.stat().st_size // 2)

    with pytest.raises(StorageError) as raised:
        open_dev_chain(tmp_path, parameters, genesis_delay=0)
    message = str(raised.value)
    assert "truncated" in message
    assert str(tmp_path / "execution") in message

    # The beacon database was closed again, so its lock is free.
    BeaconDB.open(tmp_path / "beacon", "lmdb").close()
