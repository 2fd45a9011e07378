"""Loading and checking of preset and config values from YAML files or dicts.

Config files follow the consensus-specs `configs/*.yaml` format. Files are read
with a loader that keeps unquoted `0x...` values as hex strings, so a byte
value of the wrong length (`ALTAIR_FORK_VERSION: 0x01`) is an error rather than
a silently padded integer. Mappings passed in directly may still hold ints for
byte-valued keys (plain YAML loaders produce those); they are converted to
`bytes` of the key's length.
"""

import re
from pathlib import Path
from typing import Any

import yaml

from caplin.errors import ConfigError

_DATA_DIR = Path(__file__).parent
PRESETS_DIR = _DATA_DIR / "presets"
NETWORKS_DIR = _DATA_DIR / "networks"

STRING_KEYS = frozenset({"PRESET_BASE", "CONFIG_NAME"})
# List-valued keys other than BLOB_SCHEDULE, which has its own checks. The gas
# limit schedule is a post-fulu value, kept as given.
LIST_KEYS = frozenset({"GAS_LIMIT_SCHEDULE"})

# Byte lengths of the byte-valued config keys; every `*_FORK_VERSION` key is 4 bytes.
BYTES_KEYS = {
    "TERMINAL_BLOCK_HASH": 32,
    "DEPOSIT_CONTRACT_ADDRESS": 20,
    "MESSAGE_DOMAIN_INVALID_SNAPPY": 4,
    "MESSAGE_DOMAIN_VALID_SNAPPY": 4,
    "GENESIS_VALIDATORS_ROOT": 32,
}
FORK_VERSION_LENGTH = 4


class _HexKeepingLoader(yaml.SafeLoader):
    """A safe loader that resolves unquoted `0x...` scalars to strings, not integers."""


_HexKeepingLoader.yaml_implicit_resolvers = {
    first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_HexKeepingLoader.yaml_implicit_resolvers["0"].insert(
    0, ("tag:yaml.org,2002:str", re.compile(r"^0[xX][0-9a-fA-F_]*$"))
)


def load_yaml(path: Path | str) -> dict[str, Any]:
    """Read a YAML mapping from `path`, raising ConfigError if it is missing or not a mapping."""
    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=_HexKeepingLoader)  # noqa: S506 - a SafeLoader
    except UnicodeDecodeError as error:
        raise ConfigError(
            "config file is not UTF-8 text; save it as UTF-8 YAML", path=str(path), error=error
        ) from error
    except OSError as error:
        raise ConfigError("cannot read config file", path=str(path), error=error) from error
    except yaml.YAMLError as error:
        raise ConfigError("invalid YAML in config file", path=str(path), error=error) from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError("config file is not a mapping of KEY: value", path=str(path))
    return data


def byte_length_of(key: str) -> int | None:
    """Return the byte length of a byte-valued key, or None for other keys."""
    if key.endswith("_FORK_VERSION"):
        return FORK_VERSION_LENGTH
    return BYTES_KEYS.get(key)


def parse_value(key: str, raw: Any, known: bool = True) -> Any:
    """Convert one raw YAML value to its typed form, raising ConfigError naming `key`.

    Unknown keys (`known=False`) are kept: ints stay ints, `0x` strings become
    bytes, and other strings, lists and mappings are kept as they are.
    """
    if key in STRING_KEYS:
        if not isinstance(raw, str):
            raise ConfigError("config value must be a string", key=key, value=raw)
        return raw

    length = byte_length_of(key)
    if length is not None:
        return _parse_bytes(key, raw, length)

    if key == "BLOB_SCHEDULE":
        return _parse_blob_schedule(raw)

    if not known:
        return _parse_unknown(raw)
    if key in LIST_KEYS:
        if not isinstance(raw, list):
            raise ConfigError("config value must be a list", key=key, value=raw)
        return _parse_unknown(raw)

    if isinstance(raw, bool):
        raise ConfigError("config value must be an integer, not a boolean", key=key, value=raw)
    if isinstance(raw, int):
        if raw < 0:
            raise ConfigError("config value must not be negative", key=key, value=raw)
        return raw
    if isinstance(raw, str):
        return _parse_int_string(key, raw)
    raise ConfigError("config value must be an integer", key=key, value=raw)


def _parse_int_string(key: str, raw: str) -> Any:
    text = raw.strip()
    try:
        value = int(text, 0)
    except ValueError:
        raise ConfigError("config value must be an integer", key=key, value=raw) from None
    if value < 0:
        raise ConfigError("config value must not be negative", key=key, value=raw)
    return value


def _parse_unknown(raw: Any) -> Any:
    if isinstance(raw, str) and raw.startswith("0x"):
        try:
            return bytes.fromhex(raw[2:])
        except ValueError:
            return raw
    if isinstance(raw, list):
        return [_parse_unknown(item) for item in raw]
    if isinstance(raw, dict):
        return {str(k): _parse_unknown(v) for k, v in raw.items()}
    return raw


def _parse_bytes(key: str, raw: Any, length: int) -> bytes:
    if isinstance(raw, bool):
        raise ConfigError("config value must be 0x-prefixed hex", key=key, value=raw)
    if isinstance(raw, int):
        if raw < 0 or raw >= 1 << (8 * length):
            raise ConfigError(f"config value does not fit in {length} bytes", key=key, value=raw)
        return raw.to_bytes(length, "big")
    if isinstance(raw, (bytes, bytearray)):
        value = bytes(raw)
    elif isinstance(raw, str) and raw.startswith(("0x", "0X")):
        try:
            value = bytes.fromhex(raw[2:])
        except ValueError:
            raise ConfigError("config value is not valid hex", key=key, value=raw) from None
    else:
        raise ConfigError("config value must be 0x-prefixed hex", key=key, value=raw)
    if len(value) != length:
        raise ConfigError(
            f"config value must be {length} bytes, got {len(value)}", key=key, value=raw
        )
    return value


def _parse_blob_schedule(raw: Any) -> list[dict[str, int]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(
            "BLOB_SCHEDULE must be a list of {EPOCH, MAX_BLOBS_PER_BLOCK}", key="BLOB_SCHEDULE"
        )
    schedule = []
    for position, entry in enumerate(raw):
        where = f"BLOB_SCHEDULE[{position}]"
        if not isinstance(entry, dict) or set(entry) != {"EPOCH", "MAX_BLOBS_PER_BLOCK"}:
            raise ConfigError(
                "blob schedule entry must have exactly EPOCH and MAX_BLOBS_PER_BLOCK",
                key=where,
                value=entry,
            )
        schedule.append(
            {
                "EPOCH": parse_value(f"{where}.EPOCH", entry["EPOCH"]),
                "MAX_BLOBS_PER_BLOCK": parse_value(
                    f"{where}.MAX_BLOBS_PER_BLOCK", entry["MAX_BLOBS_PER_BLOCK"]
                ),
            }
        )
    epochs = [entry["EPOCH"] for entry in schedule]
    if len(set(epochs)) != len(epochs):
        raise ConfigError("BLOB_SCHEDULE has two entries for one epoch", key="BLOB_SCHEDULE")
    return schedule


def parse_values(raw: dict[str, Any], known_keys: frozenset[str] | None = None) -> dict[str, Any]:
    """Convert every value of a raw mapping; keys outside `known_keys` are kept loosely."""
    values = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError("config key must be a string", key=key)
        known = known_keys is None or key in known_keys or byte_length_of(key) is not None
        values[key] = parse_value(key, value, known)
    return values
