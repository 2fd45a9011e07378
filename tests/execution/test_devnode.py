"""The dev execution chain: JSON-RPC plus automine inside one trio loop."""

import threading
import time

import pytest
import trio
from execution_testkit import RECIPIENT, new_node, rpc, sign

from execution.devnode import main, run_dev_node
from execution.server import free_port


@pytest.fixture()
def dev_node():
    node = new_node()
    port = free_port()
    started = threading.Event()
    holder = {}

    async def run() -> None:
        holder["token"] = trio.lowlevel.current_trio_token()
        holder["shutdown"] = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(
                lambda task_status: run_dev_node(
                    node, port=port, shutdown=holder["shutdown"], task_status=task_status
                )
            )
            started.set()

    thread = threading.Thread(target=trio.run, args=(run,), daemon=True)
    thread.start()
    assert started.wait(30)
    yield node, f"http://127.0.0.1:{port}"
    trio.from_thread.run_sync(holder["shutdown"].set, trio_token=holder["token"])
    thread.join(30)


def wait_for_receipt(url: str, tx_hash: str) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        receipt = rpc(url, "eth_getTransactionReceipt", tx_hash)["result"]
        if receipt is not None:
            return receipt
        time.sleep(0.05)
    raise AssertionError(f"no receipt for {tx_hash} within 60 s")


def test_automine_includes_transaction(dev_node):
    node, url = dev_node
    tx_hash = rpc(url, "eth_sendRawTransaction", "0x" + sign(0, 0, value=99).hex())["result"]
    receipt = wait_for_receipt(url, tx_hash)
    assert receipt["status"] == "0x1"
    assert rpc(url, "eth_getBalance", RECIPIENT, "latest")["result"] == hex(99)
    assert len(node.pool) == 0


def test_devnode_help_exits(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    assert "--block-time" in capsys.readouterr().out
