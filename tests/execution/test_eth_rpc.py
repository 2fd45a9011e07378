"""The eth JSON-RPC over HTTP, with eth-account signing and plain JSON-RPC calls."""

import json
import urllib.error
import urllib.request

import pytest
from eth_account import Account
from eth_utils import to_checksum_address
from execution_testkit import ACCOUNTS, RECIPIENT, new_node, post, rpc, sign

from execution.genesis import DEV_CHAIN_ID
from execution.server import RpcServerThread

# Init code that deploys a contract whose code returns the word 42 on any call.
RUNTIME = bytes.fromhex("602a60005260206000f3")
INIT = bytes.fromhex("600a600c600039600a6000f3") + RUNTIME


@pytest.fixture()
def served():
    node = new_node()
    with RpcServerThread(node.rpc) as server:
        yield node, server.url


def test_transfer_receipt_has_status_one(served):
    node, url = served
    account = Account.from_key(ACCOUNTS[0][1])
    nonce = int(rpc(url, "eth_getTransactionCount", account.address, "latest")["result"], 16)
    raw = Account.sign_transaction(
        {
            "to": RECIPIENT,
            "value": 12345,
            "gas": 21000,
            "maxFeePerGas": int(rpc(url, "eth_gasPrice")["result"], 16) * 2,
            "maxPriorityFeePerGas": int(rpc(url, "eth_maxPriorityFeePerGas")["result"], 16),
            "nonce": nonce,
            "chainId": int(rpc(url, "eth_chainId")["result"], 16),
            "type": 2,
        },
        account.key,
    ).raw_transaction

    tx_hash = rpc(url, "eth_sendRawTransaction", "0x" + raw.hex())["result"]
    assert rpc(url, "eth_getTransactionByHash", tx_hash)["result"]["blockHash"] is None
    built = node.build_block()

    receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]
    assert receipt["status"] == "0x1"
    assert receipt["blockHash"] == "0x" + built.request.payload.block_hash.hex()
    assert receipt["gasUsed"] == hex(21000)
    assert rpc(url, "eth_getBalance", RECIPIENT, "latest")["result"] == hex(12345)
    assert rpc(url, "eth_blockNumber")["result"] == "0x1"
    block = rpc(url, "eth_getBlockByNumber", "0x1", False)["result"]
    assert block["transactions"] == [tx_hash]
    by_hash = rpc(url, "eth_getBlockByHash", block["hash"], True)["result"]
    assert by_hash["transactions"][0]["hash"] == tx_hash
    assert rpc(url, "eth_getTransactionByHash", tx_hash)["result"]["blockNumber"] == "0x1"


def test_contract_deploy_and_call(served):
    node, url = served
    sender = to_checksum_address(ACCOUNTS[1][0])
    estimate = int(
        rpc(url, "eth_estimateGas", {"from": sender, "data": "0x" + INIT.hex()})["result"], 16
    )
    raw = sign(1, 0, to=None, value=0, data=INIT, gas=estimate)
    tx_hash = rpc(url, "eth_sendRawTransaction", "0x" + raw.hex())["result"]
    node.build_block()

    receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]
    assert receipt["status"] == "0x1"
    contract = receipt["contractAddress"]
    assert rpc(url, "eth_getCode", contract, "latest")["result"] == "0x" + RUNTIME.hex()
    output = rpc(url, "eth_call", {"to": contract, "data": "0x"}, "latest")["result"]
    assert int(output, 16) == 42


def test_identity_methods(served):
    _, url = served
    assert rpc(url, "eth_chainId")["result"] == hex(DEV_CHAIN_ID)
    assert rpc(url, "net_version")["result"] == str(DEV_CHAIN_ID)
    assert rpc(url, "web3_clientVersion")["result"].startswith("caplin/")


def test_fee_history_shape(served):
    node, url = served
    node.build_block()
    history = rpc(url, "eth_feeHistory", "0x2", "latest", [25, 75])["result"]
    assert history["oldestBlock"] == "0x0"
    assert len(history["baseFeePerGas"]) == 3
    assert len(history["reward"]) == 2
    bad = rpc(url, "eth_feeHistory", "0x2", "latest", [75, 25])
    assert bad["error"]["code"] == -32602


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("eth_getBalance", ["0x1234", "latest"], -32602),
        ("eth_getBalance", [], -32602),
        ("eth_getBlockByHash", ["0xzz", False], -32602),
        ("eth_sendRawTransaction", ["0x00"], -32602),
        ("eth_noSuchMethod", [], -32601),
    ],
)
def test_bad_calls_get_error_codes(served, method, params, code):
    _, url = served
    response = rpc(url, method, *params)
    assert response["error"]["code"] == code
    assert response["id"] == 1


def test_rejected_transaction_message(served):
    _, url = served
    raw = sign(2, 5)  # nonce 5 is fine for the pool; now send a nonce-too-low replay
    assert "result" in rpc(url, "eth_sendRawTransaction", "0x" + raw.hex())
    duplicate = rpc(url, "eth_sendRawTransaction", "0x" + raw.hex())
    assert duplicate["error"]["code"] == -32000
    assert duplicate["error"]["message"] == "already known"


def test_envelope_errors(served):
    node, url = served
    request = urllib.request.Request(url, b"{not json", {"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["error"]["code"] == -32700
    assert post(url, {"id": 1, "method": "eth_chainId"})["error"]["code"] == -32600
    assert post(url, [])["error"]["code"] == -32600
    assert post(url, {"jsonrpc": "2.0", "method": "eth_chainId"}) is None  # a notification


def test_batch_request_and_limit(served):
    node, url = served
    calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []} for i in range(3)]
    responses = post(url, calls)
    assert [r["id"] for r in responses] == [0, 1, 2]
    too_many = [calls[0]] * (node.rpc.max_batch + 1)
    assert post(url, too_many)["error"]["code"] == -32600


def test_get_rejected_with_405(served):
    _, url = served
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(url, timeout=30)
    assert raised.value.code == 405


def test_pending_nonce_counts_pool(served):
    _, url = served
    sender = ACCOUNTS[4][0]
    for nonce in range(3):
        rpc(url, "eth_sendRawTransaction", "0x" + sign(4, nonce).hex())
    address = "0x" + sender.hex()
    assert rpc(url, "eth_getTransactionCount", address, "latest")["result"] == "0x0"
    assert rpc(url, "eth_getTransactionCount", address, "pending")["result"] == "0x3"


def test_reverting_call_returns_code_3(served):
    node, url = served
    # Init code deploying `PUSH1 0 PUSH1 0 REVERT`, a contract that always reverts.
    reverting_init = bytes.fromhex("6005600c60003960056000f3" + "60006000fd")
    tx_hash = rpc(
        url,
        "eth_sendRawTransaction",
        "0x" + sign(5, 0, to=None, value=0, data=reverting_init, gas=100_000).hex(),
    )["result"]
    node.build_block()
    contract = rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]["contractAddress"]

    call = rpc(url, "eth_call", {"to": contract}, "latest")
    assert call["error"]["code"] == 3
    assert call["error"]["message"] == "execution reverted"
    estimate = rpc(url, "eth_estimateGas", {"to": contract})
    assert estimate["error"]["code"] == 3
