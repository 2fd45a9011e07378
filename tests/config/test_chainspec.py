"""ChainSpec: presets, bundled networks, custom configs and fork lookups."""

import pytest
import yaml

from caplin.config import NETWORKS, ChainSpec, Fork, constants
from caplin.errors import ConfigError

FAR_FUTURE = 2**64 - 1


def test_minimal_preset_values():
    spec = ChainSpec.for_preset("minimal")
    assert spec.preset_name == "minimal"
    assert spec.SLOTS_PER_EPOCH == 8
    assert spec.SYNC_COMMITTEE_SIZE == 32
    assert spec.MAX_WITHDRAWALS_PER_PAYLOAD == 4
    assert spec.SLOT_DURATION_MS == 6000
    assert spec.SECONDS_PER_SLOT == 6
    assert spec.GENESIS_FORK_VERSION == bytes.fromhex("00000001")
    assert spec.ALTAIR_FORK_EPOCH == FAR_FUTURE
    assert spec.BLOB_SCHEDULE == []


def test_mainnet_preset_values():
    spec = ChainSpec.for_preset("mainnet")
    assert spec.SLOTS_PER_EPOCH == 32
    assert spec.SHUFFLE_ROUND_COUNT == 90
    assert spec.SECONDS_PER_SLOT == 12
    address = bytes.fromhex("00000000219ab540356cBB839Cbe05303d7705Fa")
    assert spec.DEPOSIT_CONTRACT_ADDRESS == address
    assert spec.BLOB_SCHEDULE[0] == {"EPOCH": 412672, "MAX_BLOBS_PER_BLOCK": 15}
    assert spec.GENESIS_VALIDATORS_ROOT is None


def test_for_preset_is_cached():
    assert ChainSpec.for_preset("minimal") is ChainSpec.for_preset("minimal")


def test_unknown_preset_raises():
    with pytest.raises(ConfigError, match="unknown preset"):
        ChainSpec.for_preset("tiny")


def test_unknown_network_raises():
    with pytest.raises(ConfigError, match="unknown network"):
        ChainSpec.for_network("goerli")


@pytest.mark.parametrize(
    ("network", "genesis_version", "chain_id", "fulu_epoch", "root_prefix"),
    [
        ("mainnet", "00000000", 1, 411392, "4b363db9"),
        ("sepolia", "90000069", 11155111, 272640, "d8ea171f"),
        ("holesky", "01017000", 17000, 165120, "9143aa7c"),
        ("hoodi", "10000910", 560048, 50688, "212f13fc"),
    ],
)
def test_bundled_networks(network, genesis_version, chain_id, fulu_epoch, root_prefix):
    spec = ChainSpec.for_network(network)
    assert spec.config_name == network
    assert spec.preset_name == "mainnet"
    assert spec.GENESIS_FORK_VERSION == bytes.fromhex(genesis_version)
    assert spec.DEPOSIT_CHAIN_ID == chain_id
    assert spec.FULU_FORK_EPOCH == fulu_epoch
    assert spec.fork_at_epoch(fulu_epoch) == Fork.FULU
    assert spec.fork_at_epoch(fulu_epoch - 1) == Fork.ELECTRA
    assert spec.GENESIS_VALIDATORS_ROOT.hex().startswith(root_prefix)
    assert len(spec.BLOB_SCHEDULE) == 2


def test_every_network_loads():
    for network in NETWORKS:
        spec = ChainSpec.for_network(network)
        assert len(spec.fork_version(Fork.FULU)) == 4


def test_fork_versions_differ_per_fork():
    spec = ChainSpec.for_network("hoodi")
    versions = {spec.fork_version(fork) for fork in Fork}
    assert len(versions) == len(Fork)
    assert spec.fork_of_version(bytes.fromhex("60000910")) == Fork.ELECTRA
    assert spec.fork_of_version(b"\xff\xff\xff\xff") is None


def test_fork_at_epoch_with_forks_at_genesis():
    spec = ChainSpec.for_network("hoodi")
    assert spec.fork_at_epoch(0) == Fork.DENEB
    assert spec.fork_at_epoch(2048) == Fork.ELECTRA
    assert spec.fork_at_slot(2048 * 32 - 1) == Fork.DENEB


def test_max_blobs_per_block_follows_schedule():
    spec = ChainSpec.for_network("mainnet")
    assert spec.max_blobs_per_block(spec.DENEB_FORK_EPOCH) == 6
    assert spec.max_blobs_per_block(spec.ELECTRA_FORK_EPOCH) == 9
    assert spec.max_blobs_per_block(spec.FULU_FORK_EPOCH) == 9
    assert spec.max_blobs_per_block(412672) == 15
    assert spec.max_blobs_per_block(419072) == 21
    assert spec.max_blobs_per_block(0) == 0


def test_derived_networking_values():
    spec = ChainSpec.for_network("mainnet")
    assert spec.MIN_EPOCHS_FOR_BLOCK_REQUESTS == 33024
    assert spec.MAX_REQUEST_BLOB_SIDECARS == 768
    assert spec.MAX_REQUEST_BLOB_SIDECARS_ELECTRA == 1152
    assert spec.MAX_REQUEST_DATA_COLUMN_SIDECARS == 16384
    assert spec.ATTESTATION_SUBNET_PREFIX_BITS == 6


def test_from_config_keeps_unknown_keys():
    spec = ChainSpec.from_config(
        {
            "PRESET_BASE": "minimal",
            "CONFIG_NAME": "devnet-7",
            "ALTAIR_FORK_EPOCH": 0,
            "ALTAIR_FORK_VERSION": 0x01000007,
            "SOME_FUTURE_KEY": 12,
            "SOME_FUTURE_HEX": "0xabcd",
            "SOME_FUTURE_NAME": "hello",
        }
    )
    assert spec.preset_name == "minimal"
    assert spec.config_name == "devnet-7"
    assert spec.SLOTS_PER_EPOCH == 8
    assert spec.ALTAIR_FORK_VERSION == bytes.fromhex("01000007")
    assert spec.fork_at_epoch(0) == Fork.ALTAIR
    assert spec.SOME_FUTURE_KEY == 12
    assert spec.SOME_FUTURE_HEX == b"\xab\xcd"
    assert spec.SOME_FUTURE_NAME == "hello"
    assert spec.GENESIS_VALIDATORS_ROOT is None


def test_from_config_reads_a_yaml_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        "PRESET_BASE: 'mainnet'\n"
        "CONFIG_NAME: 'local'\n"
        "SECONDS_PER_SLOT: 3\n"
        "DEPOSIT_CONTRACT_ADDRESS: 0x4242424242424242424242424242424242424242\n"
        "BLOB_SCHEDULE:\n  - EPOCH: 5\n    MAX_BLOBS_PER_BLOCK: 12\n"
    )
    spec = ChainSpec.from_config(path)
    assert spec.preset_name == "mainnet"
    assert spec.DEPOSIT_CONTRACT_ADDRESS == b"\x42" * 20
    assert spec.BLOB_SCHEDULE == [{"EPOCH": 5, "MAX_BLOBS_PER_BLOCK": 12}]


def test_from_config_seconds_per_slot_sets_duration():
    spec = ChainSpec.from_config({"PRESET_BASE": "mainnet", "SECONDS_PER_SLOT": 4})
    assert spec.SLOT_DURATION_MS == 4000
    assert spec.SECONDS_PER_SLOT == 4
    spec = ChainSpec.from_config({"PRESET_BASE": "mainnet", "SLOT_DURATION_MS": 4000})
    assert spec.SECONDS_PER_SLOT == 4
    both = {"SECONDS_PER_SLOT": 12, "SLOT_DURATION_MS": 12000}
    assert ChainSpec.from_config(both).SLOT_DURATION_MS == 12000


def test_from_config_disagreeing_slot_times_raise():
    with pytest.raises(ConfigError, match="disagree"):
        ChainSpec.from_config({"SECONDS_PER_SLOT": 12, "SLOT_DURATION_MS": 6000})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("ALTAIR_FORK_EPOCH", "soon", "integer"),
        ("ALTAIR_FORK_EPOCH", -1, "negative"),
        ("ALTAIR_FORK_EPOCH", True, "boolean"),
        ("ALTAIR_FORK_VERSION", "0x0100", "4 bytes"),
        ("ALTAIR_FORK_VERSION", "0xzz000000", "hex"),
        ("ALTAIR_FORK_VERSION", 2**40, "fit"),
        ("DEPOSIT_CONTRACT_ADDRESS", "1234", "0x-prefixed"),
        ("CONFIG_NAME", 5, "string"),
        ("BLOB_SCHEDULE", {"EPOCH": 1}, "list"),
        ("BLOB_SCHEDULE", [{"EPOCH": 1}], "exactly"),
        ("BLOB_SCHEDULE", [{"EPOCH": "x", "MAX_BLOBS_PER_BLOCK": 1}], "integer"),
    ],
)
def test_from_config_bad_value_names_key(key, value, message):
    with pytest.raises(ConfigError, match=message) as caught:
        ChainSpec.from_config({"PRESET_BASE": "minimal", key: value})
    assert key in str(caught.value)


def test_from_config_decreasing_fork_epochs_raise():
    with pytest.raises(ConfigError, match="must not decrease"):
        ChainSpec.from_config({"ALTAIR_FORK_EPOCH": 10, "BELLATRIX_FORK_EPOCH": 5})


def test_from_config_preset_value_must_match():
    with pytest.raises(ConfigError, match="differs from its preset"):
        ChainSpec.from_config({"PRESET_BASE": "minimal", "SLOTS_PER_EPOCH": 16})


def test_from_config_missing_file_raises(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        ChainSpec.from_config(tmp_path / "absent.yaml")


def test_from_config_non_mapping_file_raises(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        ChainSpec.from_config(path)


def test_constants():
    assert constants.FAR_FUTURE_EPOCH == FAR_FUTURE
    assert constants.DOMAIN_BLS_TO_EXECUTION_CHANGE == bytes.fromhex("0a000000")
    assert constants.PARTICIPATION_FLAG_WEIGHTS == (14, 26, 14)
    assert sum(constants.PARTICIPATION_FLAG_WEIGHTS) + 2 + 8 == constants.WEIGHT_DENOMINATOR
    assert constants.COMPOUNDING_WITHDRAWAL_PREFIX == b"\x02"


def _reference_module(fork: Fork, preset: str):
    specs = pytest.importorskip("eth_consensus_specs")
    module = pytest.importorskip(f"{specs.__name__}.{fork.lower}.{preset}")
    return module


@pytest.mark.parametrize("preset", ["minimal", "mainnet"])
def test_values_match_reference_spec(preset):
    module = _reference_module(Fork.FULU, preset)
    spec = ChainSpec.for_preset(preset)
    for key, value in spec.preset.items():
        assert int(getattr(module, key)) == value, key
    for key, value in spec.config.items():
        reference = getattr(module.config, key, None)
        if reference is None or key == "BLOB_SCHEDULE":
            continue
        if isinstance(value, bytes):
            assert bytes(reference) == value, key
        elif isinstance(value, int):
            assert int(reference) == value, key


def test_constants_match_reference_spec():
    module = _reference_module(Fork.FULU, "minimal")
    for name in dir(constants):
        if not name.isupper() or not hasattr(module, name):
            continue
        ours = getattr(constants, name)
        reference = getattr(module, name)
        if isinstance(ours, bytes):
            assert bytes(reference) == ours, name
        elif isinstance(ours, int):
            assert int(reference) == ours, name


def test_spec_config_file_round_trips(tmp_path):
    spec = ChainSpec.for_network("sepolia")
    dumped = {
        key: ("0x" + value.hex() if isinstance(value, bytes) else value)
        for key, value in spec.config.items()
        if value is not None
    }
    path = tmp_path / "sepolia.yaml"
    path.write_text(yaml.safe_dump(dumped))
    again = ChainSpec.from_config(path)
    assert again.config == spec.config


def test_for_dev_activates_forks_at_genesis():
    spec = ChainSpec.for_dev(genesis_fork=Fork.DENEB)
    assert spec.config_name == "dev"
    assert spec.preset_name == "minimal"
    assert spec.fork_at_epoch(0) == Fork.DENEB
    assert spec.ELECTRA_FORK_EPOCH == FAR_FUTURE
    assert spec.fork_at_epoch(10**9) == Fork.DENEB
    mainnet_dev = ChainSpec.for_dev(preset="mainnet", genesis_fork=Fork.FULU)
    assert mainnet_dev.SLOTS_PER_EPOCH == 32
    assert mainnet_dev.fork_at_epoch(0) == Fork.FULU


BAD_VALUES = ["abc", -1, 1.5, True, None, [1], {"a": 1}, "0x", "1e3"]


def test_every_known_key_rejects_bad_values():
    defaults = ChainSpec.for_preset("minimal").config
    for key, default in defaults.items():
        if key in ("CONFIG_NAME", "PRESET_BASE", "GENESIS_VALIDATORS_ROOT", "GAS_LIMIT_SCHEDULE"):
            continue
        for bad in BAD_VALUES:
            if isinstance(default, list) and isinstance(bad, list):
                continue
            try:
                ChainSpec.from_config({"PRESET_BASE": "minimal", key: bad})
            except ConfigError as error:
                assert key in str(error), (key, bad, str(error))
            else:
                # An empty YAML value is an empty blob schedule.
                assert (key, bad) == ("BLOB_SCHEDULE", None)
