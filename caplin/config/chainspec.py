"""`ChainSpec`: one preset plus one network config, as a single typed object."""

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.config.values import NETWORKS_DIR, PRESETS_DIR, load_yaml, parse_values
from caplin.errors import ConfigError

PRESETS = ("minimal", "mainnet")
NETWORKS = ("mainnet", "sepolia", "holesky", "hoodi", "minimal")


@cache
def _preset_values(preset: str) -> dict[str, Any]:
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset; expected one of {', '.join(PRESETS)}", preset=preset)
    values: dict[str, Any] = {}
    for fork in Fork:
        values.update(parse_values(load_yaml(PRESETS_DIR / preset / f"{fork.lower}.yaml")))
    return values


# Values of a live network that are not spec config, kept apart so that the
# spec-test configs and custom configs never inherit mainnet's.
NETWORK_FACT_KEYS = ("GENESIS_VALIDATORS_ROOT",)


@cache
def _spec_config(name: str) -> dict[str, Any]:
    """Return the consensus-specs config `mainnet` or `minimal`."""
    return parse_values(load_yaml(NETWORKS_DIR / f"{name}.yaml"))


@cache
def _network_values(network: str) -> dict[str, Any]:
    """Return the config of a bundled network; testnet files list only what differs from mainnet."""
    if network not in NETWORKS:
        raise ConfigError(
            f"unknown network; expected one of {', '.join(NETWORKS)}", network=network
        )
    if network == "minimal":
        return _spec_config("minimal")
    if network == "mainnet":
        facts = parse_values(load_yaml(NETWORKS_DIR / "mainnet_facts.yaml"))
        return {**_spec_config("mainnet"), **facts}
    raw = load_yaml(NETWORKS_DIR / f"{network}.yaml")
    return {**_spec_config("mainnet"), **parse_values(raw, frozenset(_spec_config("mainnet")))}


# Values ChainSpec derives when a config leaves them out; a config may still set them.
DERIVED_KEYS = frozenset(
    {
        "SECONDS_PER_SLOT",
        "MIN_EPOCHS_FOR_BLOCK_REQUESTS",
        "MAX_REQUEST_BLOB_SIDECARS",
        "MAX_REQUEST_BLOB_SIDECARS_ELECTRA",
        "MAX_REQUEST_DATA_COLUMN_SIDECARS",
        "ATTESTATION_SUBNET_PREFIX_BITS",
    }
)


def _default_config(preset: str) -> dict[str, Any]:
    return _spec_config("minimal" if preset == "minimal" else "mainnet")


def _ceillog2(value: int) -> int:
    return (value - 1).bit_length()


class ChainSpec:
    """The preset and config values of one chain, with fork lookups and SSZ types.

    Every preset and config value is an UPPER_CASE attribute: ints as `int`,
    fork versions, hashes and addresses as `bytes`, `BLOB_SCHEDULE` as a list of
    `{"EPOCH": int, "MAX_BLOBS_PER_BLOCK": int}` sorted by epoch.
    `SECONDS_PER_SLOT` is derived from `SLOT_DURATION_MS` (or the reverse when
    a config only sets `SECONDS_PER_SLOT`).
    """

    preset_name: str
    config_name: str

    def __init__(self, preset_name: str, preset: dict[str, Any], config: dict[str, Any]) -> None:
        self.preset_name = preset_name
        self.preset = dict(preset)
        self.config = dict(config)
        self._check_and_derive()
        for key, value in {**self.preset, **self.config}.items():
            setattr(self, key, value)
        self.config_name = self.config.get("CONFIG_NAME", preset_name)
        self._fork_epochs = tuple((fork, self.fork_epoch(fork)) for fork in Fork)
        self._types: dict[Fork, Any] = {}

    def _check_and_derive(self) -> None:
        config = self.config
        if "SLOT_DURATION_MS" in config:
            config["SECONDS_PER_SLOT"] = config["SLOT_DURATION_MS"] // 1000
        elif "SECONDS_PER_SLOT" in config:
            config["SLOT_DURATION_MS"] = config["SECONDS_PER_SLOT"] * 1000
        else:
            raise ConfigError("config sets neither SLOT_DURATION_MS nor SECONDS_PER_SLOT")
        if config["SLOT_DURATION_MS"] == 0:
            raise ConfigError("slot duration must be positive", key="SLOT_DURATION_MS")
        config["BLOB_SCHEDULE"] = sorted(config.get("BLOB_SCHEDULE", []), key=lambda e: e["EPOCH"])
        for key in NETWORK_FACT_KEYS:
            config.setdefault(key, None)
        self._derive_networking_values()

        previous = 0
        for fork in list(Fork)[1:]:
            key = f"{fork.name}_FORK_EPOCH"
            if key not in config:
                raise ConfigError("config is missing a fork epoch", key=key)
            if config[key] < previous:
                raise ConfigError(
                    "fork epochs must not decrease", key=key, epoch=config[key], previous=previous
                )
            previous = config[key]
        for key in ("SLOTS_PER_EPOCH", "SLOTS_PER_HISTORICAL_ROOT"):
            if self.preset.get(key, 0) == 0:
                raise ConfigError("preset value must be positive", key=key)

    def _derive_networking_values(self) -> None:
        """Fill in the p2p values that the networking specs define as formulas of others."""
        config = self.config
        derived = {
            "MIN_EPOCHS_FOR_BLOCK_REQUESTS": lambda: (
                config["MIN_VALIDATOR_WITHDRAWABILITY_DELAY"] + config["CHURN_LIMIT_QUOTIENT"] // 2
            ),
            "MAX_REQUEST_BLOB_SIDECARS": lambda: (
                config["MAX_REQUEST_BLOCKS_DENEB"] * config["MAX_BLOBS_PER_BLOCK"]
            ),
            "MAX_REQUEST_BLOB_SIDECARS_ELECTRA": lambda: (
                config["MAX_REQUEST_BLOCKS_DENEB"] * config["MAX_BLOBS_PER_BLOCK_ELECTRA"]
            ),
            "MAX_REQUEST_DATA_COLUMN_SIDECARS": lambda: (
                config["MAX_REQUEST_BLOCKS_DENEB"] * self.preset["NUMBER_OF_COLUMNS"]
            ),
            "ATTESTATION_SUBNET_PREFIX_BITS": lambda: (
                _ceillog2(config["ATTESTATION_SUBNET_COUNT"])
                + config["ATTESTATION_SUBNET_EXTRA_BITS"]
            ),
        }
        for key, formula in derived.items():
            if key not in config:
                try:
                    config[key] = formula()
                except KeyError as error:
                    raise ConfigError(
                        f"config is missing {error.args[0]}, needed for {key}"
                    ) from None

    # Construction

    @classmethod
    def for_preset(cls, preset: str) -> "ChainSpec":
        """Return `minimal` or `mainnet` with its own spec config, the pairing spec tests use."""
        return _for_preset(preset)

    @classmethod
    def for_network(cls, network: str) -> "ChainSpec":
        """Return the spec of a bundled network: mainnet, sepolia, holesky, hoodi or minimal.

        Live networks also set GENESIS_VALIDATORS_ROOT (None elsewhere).
        """
        return _for_network(network)

    @classmethod
    def for_dev(cls, preset: str = "minimal", genesis_fork: Fork = Fork.ELECTRA) -> "ChainSpec":
        """Return a dev-chain spec with every fork up to `genesis_fork` active at genesis.

        Later forks stay unscheduled. Other values are those of the preset's
        spec config, and CONFIG_NAME is `dev`.
        """
        config = dict(_default_config(preset))
        config["CONFIG_NAME"] = "dev"
        for fork in list(Fork)[1:]:
            config[f"{fork.name}_FORK_EPOCH"] = 0 if fork <= genesis_fork else FAR_FUTURE_EPOCH
        return cls(preset, _preset_values(preset), config)

    @classmethod
    def from_config(
        cls, source: dict[str, Any] | str | Path, preset: str | None = None
    ) -> "ChainSpec":
        """Build a spec from a config mapping or a config.yaml path.

        The preset is `preset` if given, else the config's PRESET_BASE, else
        mainnet. Values the config does not set come from that preset's default
        config. Unknown keys are kept as attributes; invalid values of known
        keys raise ConfigError naming the key.
        """
        if isinstance(source, (str, Path)):
            raw = load_yaml(source)
        elif isinstance(source, Mapping):
            raw = dict(source)
        else:
            raise ConfigError(
                "config must be a mapping of KEY: value or a path to a config.yaml",
                given=type(source).__name__,
            )
        if preset is None:
            preset = raw.get("PRESET_BASE", "mainnet")
            if not isinstance(preset, str):
                raise ConfigError("PRESET_BASE must be a string", key="PRESET_BASE", value=preset)
        preset_values = _preset_values(preset)
        defaults = _default_config(preset)
        known = frozenset(defaults) | frozenset(preset_values) | DERIVED_KEYS
        given = parse_values(raw, known)
        if "SECONDS_PER_SLOT" in given:
            # Configs before SLOT_DURATION_MS set only SECONDS_PER_SLOT, which must then win
            # over the default slot duration.
            from_seconds = given["SECONDS_PER_SLOT"] * 1000
            duration = given.setdefault("SLOT_DURATION_MS", from_seconds)
            if duration // 1000 != given["SECONDS_PER_SLOT"]:
                raise ConfigError(
                    "SECONDS_PER_SLOT and SLOT_DURATION_MS disagree",
                    key="SECONDS_PER_SLOT",
                    seconds=given["SECONDS_PER_SLOT"],
                    milliseconds=duration,
                )
        config = {**defaults, **given}
        preset_overrides = {key: config.pop(key) for key in list(config) if key in preset_values}
        if preset_overrides:
            # A config that restates preset values must agree with the preset; types depend on it.
            for key, value in preset_overrides.items():
                if value != preset_values[key]:
                    raise ConfigError(
                        "config value differs from its preset", key=key, value=value, preset=preset
                    )
        return cls(preset, preset_values, config)

    # Forks

    def fork_epoch(self, fork: Fork) -> int:
        """Return the activation epoch of `fork` (0 for phase0)."""
        if fork == Fork.PHASE0:
            return 0
        return self.config[f"{fork.name}_FORK_EPOCH"]

    def fork_version(self, fork: Fork) -> bytes:
        """Return the 4-byte fork version of `fork`."""
        if fork == Fork.PHASE0:
            return self.config["GENESIS_FORK_VERSION"]
        return self.config[f"{fork.name}_FORK_VERSION"]

    def fork_at_epoch(self, epoch: int) -> Fork:
        """Return the fork active at `epoch`."""
        for fork, start in reversed(self._fork_epochs):
            if epoch >= start:
                return fork
        return Fork.PHASE0

    def fork_at_slot(self, slot: int) -> Fork:
        """Return the fork active at `slot`."""
        return self.fork_at_epoch(slot // self.preset["SLOTS_PER_EPOCH"])

    def fork_of_version(self, version: bytes) -> Fork | None:
        """Return the fork whose version is `version`, or None if no fork of this chain has it."""
        for fork in reversed(Fork):
            if self.fork_version(fork) == bytes(version):
                return fork
        return None

    def max_blobs_per_block(self, epoch: int) -> int:
        """Return the blob limit per block at `epoch`: BLOB_SCHEDULE from fulu, else the fork's.

        Forks before deneb have no blobs, so the limit there is 0.
        """
        fork = self.fork_at_epoch(epoch)
        if fork < Fork.DENEB:
            return 0
        if fork >= Fork.FULU:
            limit = self.config["MAX_BLOBS_PER_BLOCK_ELECTRA"]
            for entry in self.config["BLOB_SCHEDULE"]:
                if epoch >= entry["EPOCH"]:
                    limit = entry["MAX_BLOBS_PER_BLOCK"]
            return limit
        if fork >= Fork.ELECTRA:
            return self.config["MAX_BLOBS_PER_BLOCK_ELECTRA"]
        return self.config["MAX_BLOBS_PER_BLOCK"]

    # Types

    def types(self, fork: Fork) -> Any:
        """Return the namespace of SSZ classes of `fork` built for this spec's preset."""
        cached = self._types.get(fork)
        if cached is None:
            from caplin.types import types_for

            cached = self._types[fork] = types_for(self.preset_name, self.preset, Fork(fork))
        return cached

    def fork_of(self, value: Any) -> Fork:
        """Return the fork of a fork-versioned SSZ object or class (BeaconState, blocks, ...)."""
        from caplin.types import fork_of

        return fork_of(value)

    def __repr__(self) -> str:
        return f"ChainSpec(preset={self.preset_name!r}, config={self.config_name!r})"


@cache
def _for_preset(preset: str) -> ChainSpec:
    return ChainSpec(preset, _preset_values(preset), _default_config(preset))


@cache
def _for_network(network: str) -> ChainSpec:
    config = _network_values(network)
    preset = config.get("PRESET_BASE", "mainnet")
    return ChainSpec(preset, _preset_values(preset), config)
