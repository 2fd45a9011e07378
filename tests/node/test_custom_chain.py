"""`--chain=custom`: a config.yaml and genesis.ssz written by caplin, run, restarted, rejected."""

import http.server
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from caplin.cli import node_config, parse_args
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.custom import (
    custom_config_values,
    fetch_custom_chain,
    load_custom_config,
    load_genesis_state,
)
from caplin.config.forks import Fork
from caplin.errors import BlockProcessingError, CaplinError, ConfigError, StorageError
from caplin.node.devchain import build_genesis_state
from caplin.node.setup import (
    CustomParameters,
    DevParameters,
    PreMergeExecution,
    open_custom_chain,
    open_dev_chain,
)
from caplin.validator.keys import interop_keys
from tests.node.test_node_process import stop, wait_for_log

VALIDATORS = 16
ETH1_BLOCK_HASH = b"\x42" * 32
CONFIG = {
    "PRESET_BASE": "minimal",
    "CONFIG_NAME": "custom-test",
    "SECONDS_PER_SLOT": 2,
    "GENESIS_FORK_VERSION": "0x00000077",
    "ALTAIR_FORK_VERSION": "0x01000077",
    "ALTAIR_FORK_EPOCH": 1,
    "BELLATRIX_FORK_VERSION": "0x02000077",
    "BELLATRIX_FORK_EPOCH": 2,
    "CAPELLA_FORK_VERSION": "0x03000077",
    "CAPELLA_FORK_EPOCH": 3,
    "TERMINAL_TOTAL_DIFFICULTY": 2**256 - 2**10,
    # Keys of another client or spec version, dropped with a debug line.
    "EIP4844_FORK_EPOCH": FAR_FUTURE_EPOCH,
    "DOMAIN_BEACON_PROPOSER": "0x00000000",
    # A preset value of deneb, which this chain does not schedule.
    "FIELD_ELEMENTS_PER_BLOB": 4,
}


def write_chain(directory: Path, genesis_time: int, config: dict | None = None) -> CustomParameters:
    """Write a config.yaml and a phase0 genesis.ssz of `VALIDATORS` interop validators."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    config_path.write_text(yaml.safe_dump(config or CONFIG))
    spec = load_custom_config(config_path)
    pubkeys = [key.pubkey for key in interop_keys(VALIDATORS)]
    state = build_genesis_state(spec, pubkeys, genesis_time, ETH1_BLOCK_HASH)
    genesis_path = directory / "genesis.ssz"
    genesis_path.write_bytes(state.encode_bytes())
    return CustomParameters(config_path, genesis_path)


def test_config_schedules_only_given_forks(tmp_path, caplog):
    parameters = write_chain(tmp_path, 1_700_000_000)
    with caplog.at_level(logging.DEBUG, logger="caplin.config"):
        spec = load_custom_config(parameters.config_path)
    assert spec.preset_name == "minimal"
    assert spec.SLOT_DURATION_MS == 2000
    assert spec.fork_at_epoch(3) == Fork.CAPELLA
    assert spec.fork_epoch(Fork.DENEB) == FAR_FUTURE_EPOCH
    assert spec.fork_version(Fork.ALTAIR) == bytes.fromhex("01000077")
    assert not hasattr(spec, "DOMAIN_BEACON_PROPOSER")
    ignored = [record.message for record in caplog.records if "keys ignored" in record.message]
    assert len(ignored) == 1
    assert "EIP4844_FORK_EPOCH" in ignored[0]
    assert "FIELD_ELEMENTS_PER_BLOB" in ignored[0]


@pytest.mark.parametrize(
    "key", ["PRESET_BASE", "GENESIS_FORK_VERSION", "SECONDS_PER_SLOT", "CAPELLA_FORK_VERSION"]
)
def test_config_missing_key_is_named(tmp_path, key):
    raw = {name: value for name, value in CONFIG.items() if name != key}
    with pytest.raises(ConfigError) as raised:
        custom_config_values(raw, tmp_path / "config.yaml")
    assert key in str(raised.value)
    assert "config.yaml" in str(raised.value)


def test_config_preset_mismatch_of_scheduled_fork(tmp_path):
    raw = {**CONFIG, "SYNC_COMMITTEE_SIZE": 512}
    with pytest.raises(ConfigError) as raised:
        custom_config_values(raw, tmp_path / "config.yaml")
    assert "SYNC_COMMITTEE_SIZE" in str(raised.value)


def test_genesis_file_errors(tmp_path):
    parameters = write_chain(tmp_path, 1_700_000_000)
    spec = load_custom_config(parameters.config_path)
    state = load_genesis_state(spec, parameters.genesis_path)
    assert spec.fork_of(state) == Fork.PHASE0
    assert len(state.validators) == VALIDATORS

    truncated = tmp_path / "truncated.ssz"
    truncated.write_bytes(parameters.genesis_path.read_bytes()[:-100])
    with pytest.raises(ConfigError, match="not a valid SSZ BeaconState"):
        load_genesis_state(spec, truncated)
    with pytest.raises(ConfigError, match="too short"):
        truncated.write_bytes(b"\x00" * 10)
        load_genesis_state(spec, truncated)
    with pytest.raises(ConfigError, match="cannot read"):
        load_genesis_state(spec, tmp_path / "missing.ssz")

    # A config whose genesis fork is altair does not match a phase0 genesis state.
    altair = {**CONFIG, "ALTAIR_FORK_EPOCH": 0}
    (tmp_path / "altair.yaml").write_text(yaml.safe_dump(altair))
    with pytest.raises(ConfigError, match="genesis state fork differs"):
        load_genesis_state(load_custom_config(tmp_path / "altair.yaml"), parameters.genesis_path)


def test_datadir_bound_to_genesis(tmp_path):
    parameters = write_chain(tmp_path / "first", 1_700_000_000)
    chain = open_custom_chain(tmp_path / "data", parameters)
    try:
        assert chain.created
        assert chain.engine is None
        assert chain.keys == []
        assert chain.chain.snapshot.head_slot == 0
    finally:
        chain.close()
    chain = open_custom_chain(tmp_path / "data", parameters)
    assert not chain.created
    chain.close()

    other = write_chain(tmp_path / "other", 1_700_000_001)
    with pytest.raises(StorageError, match="genesis_block_root"):
        open_custom_chain(tmp_path / "data", other)
    moved = {**CONFIG, "CAPELLA_FORK_EPOCH": 4}
    (tmp_path / "moved.yaml").write_text(yaml.safe_dump(moved))
    with pytest.raises(StorageError, match="CAPELLA_FORK_EPOCH"):
        open_custom_chain(
            tmp_path / "data", CustomParameters(tmp_path / "moved.yaml", parameters.genesis_path)
        )


def test_post_merge_payload_is_rejected():
    spec = load_custom_config_from(CONFIG)
    request = spec.types(Fork.BELLATRIX).NewPayloadRequest()
    with pytest.raises(BlockProcessingError, match="no execution engine"):
        PreMergeExecution().verify_and_notify_new_payload(request)


def load_custom_config_from(config: dict):
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        return load_custom_config(path)


def start_custom_node(datadir: Path, parameters: CustomParameters, log_path: Path):
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        "--chain=custom",
        f"--custom-config={parameters.config_path}",
        f"--custom-genesis={parameters.genesis_path}",
        f"--datadir={datadir}",
        "--caplin.discovery.addr=127.0.0.1",
        "--caplin.discovery.port=0",
        "--caplin.discovery.tcpport=0",
        "--http=false",
        "--beacon.api.enabled=false",
    ]
    log_file = open(log_path, "ab")
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def test_custom_node_process_restarts(tmp_path):
    parameters = write_chain(tmp_path / "chain", int(time.time()) - 10)
    datadir, log_path = tmp_path / "data", tmp_path / "node.log"
    for round_number in (1, 2):
        process = start_custom_node(datadir, parameters, log_path)
        try:
            wait_for_log(log_path, "node started chain=custom", timeout=90, count=round_number)
        finally:
            assert stop(process, signal.SIGTERM) == 0
    text = log_path.read_text()
    assert text.count("custom chain created") == 1
    assert "validators=0" in text
    assert "sentinel started" in text

    other = write_chain(tmp_path / "other", int(time.time()) - 20)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "caplin.cli",
            "--chain=custom",
            f"--custom-config={other.config_path}",
            f"--custom-genesis={other.genesis_path}",
            f"--datadir={datadir}",
            "--http=false",
            "--beacon.api.enabled=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "datadir contains another custom chain" in result.stderr


def test_dev_and_custom_datadirs_exclusive(tmp_path):
    parameters = write_chain(tmp_path / "chain", 1_700_000_000)
    custom = open_custom_chain(tmp_path / "custom", parameters)
    custom.close()
    with pytest.raises(StorageError, match="datadir contains a custom chain"):
        open_dev_chain(tmp_path / "custom", DevParameters(validators=VALIDATORS))
    assert not (tmp_path / "custom" / "execution").exists()

    dev = open_dev_chain(tmp_path / "dev", DevParameters(validators=VALIDATORS))
    dev.close()
    # Both chains have the same 16 interop validators, so the genesis validators roots match
    # and the stored chain kind rejects the datadir.
    with pytest.raises(StorageError, match="datadir contains a dev chain"):
        open_custom_chain(tmp_path / "dev", parameters)


class _BeaconApi(http.server.BaseHTTPRequestHandler):
    """Serves /eth/v1/config/spec as JSON strings and the genesis state as SSZ."""

    config: dict = {}
    genesis: bytes = b""

    def do_GET(self) -> None:  # noqa: N802 - the http.server handler name
        if self.path == "/eth/v1/config/spec":
            body = json.dumps({"data": {k: str(v) for k, v in self.config.items()}}).encode()
            content_type = "application/json"
        elif self.path == "/eth/v2/debug/beacon/states/genesis":
            body, content_type = self.genesis, "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_fetch_from_beacon_api(tmp_path):
    parameters = write_chain(tmp_path / "chain", 1_700_000_000)
    _BeaconApi.config = CONFIG
    _BeaconApi.genesis = parameters.genesis_path.read_bytes()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BeaconApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config_path, genesis_path = fetch_custom_chain(url, tmp_path / "fetched")
        args = parse_args(["--chain=custom", f"--custom-beacon-api={url}", f"--datadir={tmp_path}"])
        node = node_config(args)
    finally:
        server.shutdown()
        server.server_close()
    spec = load_custom_config(config_path)
    assert spec.fork_epoch(Fork.CAPELLA) == 3
    assert spec.SLOT_DURATION_MS == 2000
    assert genesis_path.read_bytes() == parameters.genesis_path.read_bytes()
    assert node.custom.config_path == tmp_path / "custom" / "config.yaml"
    assert node.custom.genesis_path.exists()
    assert node.run_validators is False
    assert node.network is not None

    with pytest.raises(ConfigError, match="cannot fetch"):
        fetch_custom_chain(url, tmp_path / "unreachable", timeout=2)


def test_custom_flags_need_files(tmp_path):
    with pytest.raises(CaplinError, match="--custom-config"):
        node_config(parse_args(["--chain=custom", f"--datadir={tmp_path}"]))
    with pytest.raises(CaplinError, match="need --chain=custom"):
        node_config(parse_args(["--custom-config=x.yaml"]))
