"""A taken port stops the node before it opens anything, naming the port and its flag."""

import socket

import pytest

from caplin.errors import ConfigError
from caplin.node.network import NetworkConfig
from caplin.node.node import NodeConfig, check_ports


def _taken(kind: int) -> tuple[socket.socket, int]:
    holder = socket.socket(socket.AF_INET, kind)
    holder.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        holder.listen()
    return holder, holder.getsockname()[1]


def test_taken_rpc_port_names_the_flag(tmp_path):
    holder, port = _taken(socket.SOCK_STREAM)
    with holder, pytest.raises(ConfigError, match=rf"TCP port {port} .*--http\.port"):
        check_ports(NodeConfig(datadir=tmp_path, rpc_port=port))


def test_taken_discovery_port_names_the_flag(tmp_path):
    holder, port = _taken(socket.SOCK_DGRAM)
    network = NetworkConfig(listen_host="127.0.0.1", udp_port=port, tcp_port=0)
    config = NodeConfig(datadir=tmp_path, rpc_enabled=False, network=network)
    with holder, pytest.raises(ConfigError, match=rf"UDP port {port} .*--caplin\.discovery\.port"):
        check_ports(config)


def test_free_ports_pass(tmp_path):
    network = NetworkConfig(listen_host="127.0.0.1", udp_port=0, tcp_port=0)
    check_ports(NodeConfig(datadir=tmp_path, rpc_port=0, network=network))
