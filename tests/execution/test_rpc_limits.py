"""Limits and strict input checks of the eth JSON-RPC: hostile bodies, ids, params and calls."""

import json
import time
import urllib.error
import urllib.request

import pytest
from eth_account import Account
from execution_testkit import ACCOUNTS, RECIPIENT, new_node, post, rpc, sign

from execution.rpc import EthRpc
from execution.server import RpcServerThread

# Init code that loops forever: JUMPDEST, PUSH1 0, JUMP.
ENDLESS_LOOP = "0x5b600056"


@pytest.fixture()
def node():
    return new_node()


def handle(rpc_api: EthRpc, body: bytes | str) -> object:
    raw = body.encode() if isinstance(body, str) else body
    response = rpc_api.handle(raw)
    return json.loads(response) if response is not None else None


def test_deeply_nested_json_is_parse_error(node):
    response = handle(node.rpc, "[" * 100_000 + "]" * 100_000)
    assert response["error"]["code"] == -32700
    assert "nested" in response["error"]["message"]


def test_nan_id_is_parse_error(node):
    response = handle(node.rpc, '{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}')
    assert response["error"]["code"] == -32700
    assert response["id"] is None


@pytest.mark.parametrize("request_id", [{"a": 1}, [1], True])
def test_invalid_id_rejected(node, request_id):
    body = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "eth_chainId"})
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32600
    assert response["id"] is None


def test_wrong_version_keeps_id(node):
    body = json.dumps({"jsonrpc": "1.0", "id": 7, "method": "eth_chainId"})
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32600
    assert response["id"] == 7
    assert '"1.0"' in response["error"]["message"]


def test_too_many_params_rejected(node):
    address = "0x" + ACCOUNTS[0][0].hex()
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getBalance",
            "params": [address, "latest", 1, 2],
        }
    )
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32602
    assert "at most 2" in response["error"]["message"]


@pytest.mark.parametrize(
    ("tag", "reason"),
    [("banana", '"banana"'), ("0x01", "leading zeros"), ("12", '"12"'), ("-0x1", '"-0x1"')],
)
def test_bad_block_number_named(node, tag, reason):
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber", "params": [tag, False]}
    )
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32602
    assert reason in response["error"]["message"]


def test_bad_address_named(node):
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_getBalance", "params": [123, "latest"]}
    )
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32602
    assert "invalid address 123" in response["error"]["message"]


def test_data_and_input_must_agree(node):
    call = {"to": RECIPIENT, "data": "0x01", "input": "0x02"}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call]})
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32602
    assert '"input"' in response["error"]["message"]


def test_oversized_init_code_call(node):
    call = {"data": "0x" + "00" * (2 * 1024 * 1024)}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call]})
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32000
    assert "3860" in response["error"]["message"]


def test_endless_call_times_out(node):
    timed = EthRpc(node.engine, node.pool, call_timeout=0.5)
    call = {"data": ENDLESS_LOOP, "gas": "0xffffffffffffffffffff"}
    for method in ("eth_call", "eth_estimateGas"):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": [call]})
        started = time.monotonic()
        response = handle(timed, body)
        elapsed = time.monotonic() - started
        assert response["error"]["code"] == -32000, method
        assert "timeout = 0.5s" in response["error"]["message"], method
        # Bounded by the deadline, not by the 2**80 gas the call asked for.
        assert elapsed < 30, (method, elapsed)


def test_call_gas_is_capped(node):
    capped = EthRpc(node.engine, node.pool, gas_cap=100_000)
    # Init code whose GAS pushes the gas left; MSTORE and RETURN hand it back as one word.
    code = "0x5a60005260206000f3"
    call = {"data": code, "gas": "0xffffffffffffffffffff"}
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call", "params": [call]})
    response = handle(capped, body)
    assert 0 < int(response["result"], 16) < 100_000


def test_max_nonce_rejected(node):
    served_url = None
    with RpcServerThread(node.rpc) as server:
        served_url = server.url
        raw = sign(1, 2**64 - 1)
        response = rpc(served_url, "eth_sendRawTransaction", "0x" + raw.hex())
    assert response["error"]["code"] == -32000
    assert response["error"]["message"].startswith("nonce has max value")


def test_rejection_names_chain_ids(node):
    fields = {
        "to": RECIPIENT,
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": 0,
        "chainId": 1,
        "type": 2,
    }
    raw = Account.sign_transaction(fields, ACCOUNTS[0][1]).raw_transaction
    body = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        }
    )
    message = handle(node.rpc, body)["error"]["message"]
    assert message.startswith("invalid chain id")
    assert "expected=31337" in message
    assert "actual=1" in message


def test_unknown_transaction_type_named(node):
    body = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x05c0"]}
    )
    response = handle(node.rpc, body)
    assert response["error"]["code"] == -32602
    assert "unsupported transaction type 0x05" in response["error"]["message"]


def test_oversized_body_gets_jsonrpc_error(node):
    with RpcServerThread(node.rpc) as server:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "x", "pad": "0" * (6 << 20)})
        request = urllib.request.Request(
            server.url, body.encode(), {"content-type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(request, timeout=30)
        assert raised.value.code == 413
        error = json.loads(raised.value.read())["error"]
        assert error["code"] == -32600
        assert "at most 5242880 bytes" in error["message"]
        # The server still responds afterwards.
        assert post(server.url, {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId"})[
            "result"
        ] == hex(31337)
