"""Config input a user can get wrong: each mistake raises ConfigError naming it."""

from pathlib import Path

import pytest

from caplin.config import ChainSpec
from caplin.errors import ConfigError


def test_short_hex_version_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("PRESET_BASE: minimal\nALTAIR_FORK_VERSION: 0x01\n")
    with pytest.raises(ConfigError, match="ALTAIR_FORK_VERSION"):
        ChainSpec.from_config(path)


def test_full_hex_version_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("PRESET_BASE: minimal\nALTAIR_FORK_VERSION: 0x01000001\n")
    assert ChainSpec.from_config(path).ALTAIR_FORK_VERSION == bytes.fromhex("01000001")


def test_non_utf8_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(ConfigError, match="UTF-8"):
        ChainSpec.from_config(path)


@pytest.mark.parametrize("source", [None, 5, [1]])
def test_non_mapping_source_rejected(source: object) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        ChainSpec.from_config(source)  # type: ignore[arg-type]
