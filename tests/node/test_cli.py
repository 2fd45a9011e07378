import logging

import pytest

from caplin.cli import node_config, parse_args
from caplin.errors import CaplinError
from caplin.logs import RepeatFilter, parse_verbosity


def test_defaults_run_dev_chain():
    args = parse_args([])
    config = node_config(args)
    assert args.chain == "dev"
    assert config.dev.validators == 64
    assert config.dev.genesis_fork == "electra"
    assert config.dev.preset == "minimal"
    assert config.api_port == 5555
    assert config.rpc_port == 8545
    assert config.db_engine == "lmdb"
    assert "builder" not in config.api_namespaces


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "caplin.toml"
    path.write_text(
        'datadir = "/tmp/from-file"\n"db.engine" = "leveldb"\n'
        '[dev]\nvalidators = 16\n"genesis-fork" = "deneb"\n'
        "[metrics]\n# a table key and a flag of the same name\n"
    )
    args = parse_args([f"--config={path}", "--dev.validators=32"])
    assert str(args.datadir) == "/tmp/from-file"
    assert args.db_engine == "leveldb"
    assert args.dev_genesis_fork == "deneb"
    assert args.dev_validators == 32


def test_config_file_unknown_key(tmp_path):
    path = tmp_path / "caplin.toml"
    path.write_text("no-such-flag = 1\n")
    with pytest.raises(CaplinError) as raised:
        parse_args([f"--config={path}"])
    assert raised.value.fields["key"] == "no-such-flag"


def test_boolean_flags_accept_erigon_forms():
    assert parse_args(["--http=false"]).http_enabled is False
    assert parse_args(["--metrics"]).metrics is True
    assert parse_args(["--log.json=true"]).log_json is True


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("0", logging.CRITICAL),
        ("3", logging.INFO),
        ("debug", logging.DEBUG),
        ("warn", logging.WARNING),
    ],
)
def test_verbosity_numbers_and_names(text, level):
    assert parse_verbosity(text) == level


def test_verbosity_rejects_unknown():
    with pytest.raises(ValueError):
        parse_verbosity("loud")


def test_repeat_filter_drops_repeats():
    repeat_filter = RepeatFilter(interval=60)
    record = logging.LogRecord("caplin", logging.WARNING, __file__, 1, "late slot=%d", (1,), None)
    again = logging.LogRecord("caplin", logging.WARNING, __file__, 1, "late slot=%d", (2,), None)
    assert repeat_filter.filter(record)
    assert not repeat_filter.filter(again)
