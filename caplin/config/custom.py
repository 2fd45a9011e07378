"""A custom chain: its config.yaml and genesis.ssz, as another client publishes them.

Configs of other clients and other spec versions carry keys this build does not use
(`EIP4844_FORK_EPOCH`, spec constants such as `DOMAIN_*`) and preset values of forks the
chain never schedules. Those are dropped with one debug line. A chain's identity (preset,
slot duration, fork versions and epochs) must be present: a missing one is an error that
names the key and the file. A fork whose epoch the config does not set is not scheduled,
whatever the preset's default network sets.
"""

import logging
from functools import cache
from pathlib import Path
from typing import Any

from caplin.config.chainspec import DERIVED_KEYS, PRESETS, ChainSpec, _default_config
from caplin.config.constants import FAR_FUTURE_EPOCH, GENESIS_EPOCH
from caplin.config.forks import Fork
from caplin.config.values import PRESETS_DIR, load_yaml, parse_values
from caplin.errors import ConfigError

log = logging.getLogger("caplin.config")

# Byte offset of `fork.current_version` in an SSZ BeaconState of every fork: genesis_time
# (8 bytes), genesis_validators_root (32), slot (8), fork.previous_version (4).
STATE_CURRENT_VERSION_OFFSET = 52
FORK_VERSION_LENGTH = 4


@cache
def _preset_keys_by_fork(preset: str) -> dict[str, Fork]:
    """Return the fork that introduced each preset key of `preset`."""
    keys: dict[str, Fork] = {}
    for fork in Fork:
        for key in load_yaml(PRESETS_DIR / preset / f"{fork.lower}.yaml"):
            keys.setdefault(key, fork)
    return keys


def _scheduled(raw: dict[str, Any], fork: Fork) -> bool:
    """Return True when the raw config gives `fork` an epoch other than FAR_FUTURE_EPOCH."""
    if fork == Fork.PHASE0:
        return True
    epoch = raw.get(f"{fork.name}_FORK_EPOCH")
    if epoch is None:
        return False
    try:
        return int(str(epoch), 0) != FAR_FUTURE_EPOCH
    except ValueError:
        # An invalid epoch counts as scheduled, so the spec's own check names it.
        return True


def _require(raw: dict[str, Any], key: str, path: Path) -> None:
    if key not in raw:
        raise ConfigError("custom chain config is missing a required key", key=key, path=str(path))


def _check_required(raw: dict[str, Any], path: Path) -> str:
    """Check the keys that define the chain; return the preset name."""
    _require(raw, "PRESET_BASE", path)
    preset = raw["PRESET_BASE"]
    if preset not in PRESETS:
        raise ConfigError(
            f"custom chain config has an unknown PRESET_BASE; expected one of {', '.join(PRESETS)}",
            value=preset,
            path=str(path),
        )
    if "SECONDS_PER_SLOT" not in raw and "SLOT_DURATION_MS" not in raw:
        raise ConfigError(
            "custom chain config is missing a required key",
            key="SLOT_DURATION_MS or SECONDS_PER_SLOT",
            path=str(path),
        )
    _require(raw, "GENESIS_FORK_VERSION", path)
    for fork in list(Fork)[1:]:
        if _scheduled(raw, fork):
            _require(raw, f"{fork.name}_FORK_VERSION", path)
    if _scheduled(raw, Fork.BELLATRIX):
        _require(raw, "TERMINAL_TOTAL_DIFFICULTY", path)
    return str(preset)


def custom_config_values(raw: dict[str, Any], path: Path) -> tuple[str, dict[str, Any]]:
    """Select the config values of `raw` that this build uses; return (preset, values).

    Raises ConfigError naming the key and `path` when a required key is missing or a preset
    value of a scheduled fork differs from the preset.
    """
    preset = _check_required(raw, path)
    preset_forks = _preset_keys_by_fork(preset)
    config_keys = frozenset(_default_config(preset)) | DERIVED_KEYS
    preset_values = parse_values({key: value for key, value in raw.items() if key in preset_forks})
    expected_preset = ChainSpec.for_preset(preset).preset

    values: dict[str, Any] = {}
    ignored: list[str] = []
    for key, value in raw.items():
        if key in preset_forks:
            if preset_values[key] == expected_preset[key]:
                continue
            if _scheduled(raw, preset_forks[key]):
                raise ConfigError(
                    "custom chain config value differs from its preset",
                    key=key,
                    value=value,
                    preset=preset,
                    preset_value=expected_preset[key],
                    path=str(path),
                )
            ignored.append(key)
        elif key in config_keys:
            values[key] = value
        else:
            ignored.append(key)
    for fork in list(Fork)[1:]:
        values.setdefault(f"{fork.name}_FORK_EPOCH", FAR_FUTURE_EPOCH)
    if ignored:
        log.debug(
            "custom chain config keys ignored path=%s keys=%s", path, ",".join(sorted(ignored))
        )
    return preset, values


def load_custom_config(path: str | Path) -> ChainSpec:
    """Build the `ChainSpec` of the custom chain config at `path` (a config.yaml).

    Values the file does not set come from the preset's spec config. Raises ConfigError naming
    the file when it is unreadable, misses a required key or contains an invalid value.
    """
    path = Path(path)
    raw = load_yaml(path)
    preset, values = custom_config_values(raw, path)
    try:
        return ChainSpec.from_config(values, preset=preset)
    except ConfigError as error:
        raise ConfigError(error.message, **{**error.fields, "path": str(path)}) from error


def chain_identity(spec: ChainSpec) -> dict[str, Any]:
    """Return the config values that make two specs the same chain, as JSON-ready values."""
    identity: dict[str, Any] = {
        "PRESET_BASE": spec.preset_name,
        "SLOT_DURATION_MS": spec.SLOT_DURATION_MS,
    }
    identity["GENESIS_FORK_VERSION"] = "0x" + spec.fork_version(Fork.PHASE0).hex()
    for fork in list(Fork)[1:]:
        identity[f"{fork.name}_FORK_VERSION"] = "0x" + spec.fork_version(fork).hex()
        identity[f"{fork.name}_FORK_EPOCH"] = spec.fork_epoch(fork)
    return identity


def load_genesis_state(spec: ChainSpec, path: str | Path) -> Any:
    """Read the SSZ genesis state at `path`; the fork comes from its `fork.current_version`.

    Raises ConfigError naming the file when it cannot be read, is not a BeaconState of a fork
    of this chain, is not at slot 0, or does not match the config's genesis fork or
    GENESIS_VALIDATORS_ROOT.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigError("cannot read the genesis state", path=str(path), error=error) from error
    end = STATE_CURRENT_VERSION_OFFSET + FORK_VERSION_LENGTH
    if len(data) < end:
        raise ConfigError(
            "genesis file is too short to be an SSZ BeaconState", path=str(path), size=len(data)
        )
    version = data[STATE_CURRENT_VERSION_OFFSET:end]
    fork = spec.fork_of_version(version)
    if fork is None:
        raise ConfigError(
            "genesis state has a fork version that the chain config does not define; is it "
            "the genesis of this config?",
            fork_version=version,
            path=str(path),
        )
    try:
        state = spec.types(fork).BeaconState.decode_bytes(data)
    except Exception as error:  # noqa: BLE001 - remerkleable raises several types on bad bytes
        raise ConfigError(
            "genesis file is not a valid SSZ BeaconState",
            fork=fork.lower,
            path=str(path),
            error=repr(error),
        ) from error
    _check_genesis_state(spec, state, fork, path)
    return state


def _check_genesis_state(spec: ChainSpec, state: Any, fork: Fork, path: Path) -> None:
    slot = int(state.slot)
    if slot != 0:
        raise ConfigError(
            "genesis file is a BeaconState after genesis; give the state at slot 0",
            slot=slot,
            path=str(path),
        )
    expected = spec.fork_at_epoch(GENESIS_EPOCH)
    if fork != expected:
        raise ConfigError(
            "genesis state fork differs from the fork the config runs at epoch 0",
            state_fork=fork.lower,
            config_fork=expected.lower,
            path=str(path),
        )
    known_root = getattr(spec, "GENESIS_VALIDATORS_ROOT", None)
    root = bytes(state.genesis_validators_root)
    if known_root is not None and root != known_root:
        raise ConfigError(
            "genesis state has another genesis validators root than the config",
            state_root=root,
            config_root=known_root,
            path=str(path),
        )


def fetch_custom_chain(url: str, directory: str | Path, timeout: float = 30.0) -> tuple[Path, Path]:
    """Download a node's chain config and genesis state into `directory`.

    Reads `/eth/v1/config/spec` and `/eth/v2/debug/beacon/states/genesis` (as SSZ) from the
    Beacon API at `url`, writes `config.yaml` and `genesis.ssz`, and returns their paths.
    Raises ConfigError naming the URL when a request fails or returns something unexpected.
    """
    import json
    import urllib.error
    import urllib.request

    import yaml

    base = url.rstrip("/")
    directory = Path(directory)

    def get(path: str, accept: str) -> bytes:
        request = urllib.request.Request(base + path, headers={"Accept": accept})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return bytes(response.read())
        except (urllib.error.URLError, OSError) as error:
            raise ConfigError(
                "cannot fetch the custom chain from the Beacon API", url=base + path, error=error
            ) from error

    try:
        spec_values = json.loads(get("/eth/v1/config/spec", "application/json"))["data"]
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(
            "Beacon API returned an invalid config", url=base + "/eth/v1/config/spec"
        ) from error
    if not isinstance(spec_values, dict):
        raise ConfigError("Beacon API returned an invalid config", url=base + "/eth/v1/config/spec")
    genesis = get("/eth/v2/debug/beacon/states/genesis", "application/octet-stream")

    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    genesis_path = directory / "genesis.ssz"
    config_path.write_text(yaml.safe_dump(spec_values, sort_keys=True))
    genesis_path.write_bytes(genesis)
    log.info(
        "custom chain fetched url=%s config=%s genesis=%s genesis_bytes=%d",
        base,
        config_path,
        genesis_path,
        len(genesis),
    )
    return config_path, genesis_path
