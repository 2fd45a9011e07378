"""The node's network key lives in the datadir, so its peer id survives restarts."""

import stat

import pytest

from caplin.errors import ConfigError
from caplin.node.network import load_node_key


def test_key_is_created_once_and_reused(tmp_path):
    first = load_node_key(tmp_path)
    path = tmp_path / "network" / "nodekey"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_node_key(tmp_path) == first
    assert len(first) == 32


@pytest.mark.parametrize("text", ["", "zz", "00" * 31, "00" * 32, "ff" * 32])
def test_bad_key_file_is_named(tmp_path, text):
    path = tmp_path / "network" / "nodekey"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(ConfigError, match="network key") as raised:
        load_node_key(tmp_path)
    assert str(path) in str(raised.value)
