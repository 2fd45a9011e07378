"""Networking flags: off by default, on with --sentinel.enable, bootnodes or static peers."""

import time

from caplin.cli import node_config, parse_args

PEER = "/ip4/127.0.0.1/tcp/4001/p2p/16Uiu2HAmAbc"


def test_no_flags_run_no_sentinel():
    config = node_config(parse_args([]))
    assert config.network is None
    assert config.run_validators is True
    assert config.genesis_time is None


def test_enable_flag_uses_discovery_ports():
    config = node_config(
        parse_args(
            [
                "--sentinel.enable=true",
                "--caplin.discovery.port=9000",
                "--caplin.discovery.tcpport=9001",
                "--caplin.max-peer-count=5",
            ]
        )
    )
    assert config.network is not None
    assert config.network.udp_port == 9000
    assert config.network.tcp_port == 9001
    assert config.network.max_peers == 5


def test_static_peers_enable_network():
    config = node_config(parse_args([f"--sentinel.staticpeers={PEER}"]))
    assert config.network is not None
    assert config.network.static_peers == [PEER]


def test_follower_flags():
    genesis_time = int(time.time()) - 3600
    config = node_config(
        parse_args(["--dev.run-validators=false", f"--dev.genesis-time={genesis_time}"])
    )
    assert config.run_validators is False
    assert config.genesis_time == genesis_time
    assert config.network is None
