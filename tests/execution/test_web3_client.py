"""web3.py against the engine's JSON-RPC: a transfer, a contract deployment and a call."""

import pytest
from eth_account import Account
from execution_testkit import ACCOUNTS, RECIPIENT, new_node

from execution.server import RpcServerThread

web3 = pytest.importorskip("web3")

# Init code that deploys a contract whose code returns the word 42 on any call.
INIT = bytes.fromhex("600a600c600039600a6000f3" + "602a60005260206000f3")


@pytest.fixture()
def client():
    node = new_node()
    with RpcServerThread(node.rpc) as server:
        yield node, web3.Web3(web3.HTTPProvider(server.url))


def test_web3_transfer_receipt(client):
    node, w3 = client
    account = Account.from_key(ACCOUNTS[0][1])
    assert w3.is_connected()
    assert w3.eth.chain_id == 31337
    transaction = {
        "to": RECIPIENT,
        "value": 10**15,
        "gas": 21000,
        "maxFeePerGas": w3.eth.gas_price * 2,
        "maxPriorityFeePerGas": w3.eth.max_priority_fee,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": w3.eth.chain_id,
        "type": 2,
    }
    signed = account.sign_transaction(transaction)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    node.build_block()

    receipt = w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["status"] == 1
    assert w3.eth.get_balance(RECIPIENT) == 10**15
    block = w3.eth.get_block("latest", full_transactions=True)
    assert block["number"] == 1
    assert block["transactions"][0]["hash"] == tx_hash
    assert w3.eth.get_transaction(tx_hash)["from"] == account.address
    history = w3.eth.fee_history(1, "latest", [50])
    assert len(history["baseFeePerGas"]) == 2


def test_web3_deploy_and_call(client):
    node, w3 = client
    account = Account.from_key(ACCOUNTS[1][1])
    transaction = {
        "data": INIT,
        "value": 0,
        "gas": w3.eth.estimate_gas({"from": account.address, "data": INIT}),
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "nonce": 0,
        "chainId": 31337,
        "type": 2,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(transaction).raw_transaction)
    node.build_block()

    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
    assert receipt["status"] == 1
    contract = receipt["contractAddress"]
    assert w3.eth.get_code(contract).hex().endswith("602a60005260206000f3")
    assert int.from_bytes(w3.eth.call({"to": contract}), "big") == 42
