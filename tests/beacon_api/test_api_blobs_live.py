"""Blob data routes of a running caplin dev node, after a blob transaction sent to its JSON-RPC.

Each fixture starts `caplin` as a subprocess on loopback with electra or fulu at genesis,
2-second slots and 16 validators, and stops it by its PID. The test sends a type-3
transaction with two blobs to the node's eth JSON-RPC, waits for the beacon block whose
payload includes it, and reads that block's blob sidecars, blobs and data column sidecars.
"""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import rlp
from beacon_api_chain import make_blob
from eth_account import Account
from oapi_check import validate

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.crypto import kzg
from caplin.types.basic import List
from execution.genesis import DEV_CHAIN_ID, dev_accounts

SLOT_MS = 2000
START_TIMEOUT_SECONDS = 60
INCLUSION_TIMEOUT_SECONDS = 30
SSZ = "application/octet-stream"
V4 = "beacon-node-oapi-v4.0.0.yaml"
BLOB_SIDECARS = "/eth/v1/beacon/blob_sidecars/{block_id}"
BLOBS = "/eth/v1/beacon/blobs/{block_id}"
COLUMNS = "/eth/v1/debug/beacon/data_column_sidecars/{block_id}"
# Beacon API and JSON-RPC ports of each node.
PORTS = {Fork.ELECTRA: (25940, 28940), Fork.FULU: (25941, 28941)}
SENT_BLOBS = [make_blob(3), make_blob(4)]


class BlobNode:
    """A `caplin` dev node subprocess with HTTP clients for its Beacon API and JSON-RPC."""

    def __init__(self, datadir: Path, fork: Fork) -> None:
        api_port, rpc_port = PORTS[fork]
        self.fork = fork
        self.log_path = datadir.with_suffix(".log")
        command = [
            sys.executable,
            "-m",
            "caplin.cli",
            f"--datadir={datadir}",
            "--beacon.api.addr=127.0.0.1",
            f"--beacon.api.port={api_port}",
            "--http.addr=127.0.0.1",
            f"--http.port={rpc_port}",
            f"--dev.genesis-fork={fork.lower}",
            f"--dev.slot-duration={SLOT_MS}",
            "--dev.validators=16",
            "--dev.genesis-delay=2",
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=30)
        self.rpc_client = httpx.Client(base_url=f"http://127.0.0.1:{rpc_port}", timeout=30)

    def log_tail(self) -> str:
        return self.log_path.read_text()[-2000:]

    def rpc(self, method: str, *params: Any) -> Any:
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        body = self.rpc_client.post("/", json=request).json()
        assert "error" not in body, f"{method} failed: {body['error']}"
        return body["result"]

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_tail()
            try:
                healthy = self.api.get("/eth/v1/node/health").status_code in (200, 206)
                if healthy and self.rpc("eth_chainId"):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"node not ready after {START_TIMEOUT_SECONDS} s:\n{self.log_tail()}")

    def stop(self) -> None:
        self.api.close()
        self.rpc_client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def blob_transaction(blobs: list[bytes], cell_proofs: bool) -> bytes:
    """Return the network form of a type-3 transaction carrying `blobs`, from dev account 0.

    With `cell_proofs` the sidecar has the cell proofs of EIP-7594 (wrapper version 1), as a
    fulu chain requires, else one blob proof per blob.
    """
    commitments = [kzg.blob_to_kzg_commitment(blob) for blob in blobs]
    signed = Account.sign_transaction(
        {
            "to": "0x" + "42" * 20,
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerBlobGas": 10**9,
            "blobVersionedHashes": [kzg.kzg_commitment_to_versioned_hash(c) for c in commitments],
            "nonce": 0,
            "chainId": DEV_CHAIN_ID,
            "type": 3,
        },
        dev_accounts()[0][1],
    )
    body = rlp.decode(bytes(signed.raw_transaction)[1:])
    if cell_proofs:
        proofs = [proof for blob in blobs for proof in kzg.compute_cells_and_kzg_proofs(blob)[1]]
        wrapped = [body, 1, blobs, commitments, proofs]
    else:
        proofs = [kzg.compute_blob_kzg_proof(b, c) for b, c in zip(blobs, commitments, strict=True)]
        wrapped = [body, blobs, commitments, proofs]
    return b"\x03" + rlp.encode(wrapped)


def including_block_root(node: BlobNode, transaction_hash: str) -> str:
    """Wait for the transaction's receipt, then return the root of the block that includes it."""
    deadline = time.monotonic() + INCLUSION_TIMEOUT_SECONDS
    receipt = None
    while receipt is None:
        assert time.monotonic() < deadline, f"transaction not included:\n{node.log_tail()}"
        assert node.process.poll() is None, node.log_tail()
        time.sleep(0.5)
        receipt = node.rpc("eth_getTransactionReceipt", transaction_hash)
    assert receipt["status"] == "0x1", receipt

    # The receipt can exist before the beacon block carrying its payload is imported, so the
    # recent blocks are searched until that block appears.
    while True:
        root = block_root_with_payload(node, receipt["blockHash"])
        if root is not None:
            return root
        assert time.monotonic() < deadline, f"no beacon block with payload {receipt['blockHash']}"
        time.sleep(0.5)


def block_root_with_payload(node: BlobNode, block_hash: str) -> str | None:
    """Return the root of the block of the last 8 slots whose payload is `block_hash`."""
    head_slot = int(node.api.get("/eth/v1/node/syncing").json()["data"]["head_slot"])
    for slot in range(head_slot, max(head_slot - 8, 0), -1):
        response = node.api.get(f"/eth/v2/beacon/blocks/{slot}")
        if response.status_code != 200:
            continue
        payload = response.json()["data"]["message"]["body"]["execution_payload"]
        if payload["block_hash"] == block_hash:
            return node.api.get(f"/eth/v1/beacon/blocks/{slot}/root").json()["data"]["root"]
    return None


@pytest.fixture(scope="module", params=[Fork.ELECTRA, Fork.FULU], ids=lambda fork: fork.lower)
def included(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BlobNode, str]]:
    """Yield a node whose chain has a block with `SENT_BLOBS`, and that block's root."""
    fork = request.param
    transaction = blob_transaction(SENT_BLOBS, cell_proofs=fork >= Fork.FULU)
    node = BlobNode(tmp_path_factory.mktemp("blobs") / fork.lower, fork)
    try:
        node.wait_until_ready()
        transaction_hash = node.rpc("eth_sendRawTransaction", "0x" + transaction.hex())
        yield node, including_block_root(node, transaction_hash)
    finally:
        node.stop()


def get_json(node: BlobNode, route: str, path: str, status: int = 200) -> Any:
    """GET `path` as JSON, then check its status and body against the v4.0.0 document."""
    response = node.api.get(path)
    assert response.status_code == status, response.text[:500]
    body = response.json()
    validate(route, "GET", status, body, document=V4)
    return body


def get_ssz(node: BlobNode, route: str, path: str) -> httpx.Response:
    response = node.api.get(path, headers={"Accept": SSZ})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == SSZ
    validate(route, "GET", 200, response.content, media=SSZ, document=V4)
    return response


def split_blobs(data: bytes) -> list[bytes]:
    size = kzg.BYTES_PER_BLOB
    return [data[start : start + size] for start in range(0, len(data), size)]


def test_blobs_match_sent(included: tuple[BlobNode, str]) -> None:
    node, root = included
    body = get_json(node, BLOBS, f"/eth/v1/beacon/blobs/{root}")
    assert [bytes.fromhex(blob[2:]) for blob in body["data"]] == SENT_BLOBS
    ssz = get_ssz(node, BLOBS, f"/eth/v1/beacon/blobs/{root}")
    assert split_blobs(ssz.content) == SENT_BLOBS

    commitment = kzg.blob_to_kzg_commitment(SENT_BLOBS[1])
    versioned_hash = "0x" + kzg.kzg_commitment_to_versioned_hash(commitment).hex()
    path = f"/eth/v1/beacon/blobs/{root}?versioned_hashes={versioned_hash}"
    body = get_json(node, BLOBS, path)
    assert [bytes.fromhex(blob[2:]) for blob in body["data"]] == SENT_BLOBS[1:]


def test_blob_sidecars_route(included: tuple[BlobNode, str]) -> None:
    node, root = included
    path = f"/eth/v1/beacon/blob_sidecars/{root}"
    if node.fork >= Fork.FULU:
        body = get_json(node, BLOB_SIDECARS, path, status=400)
        assert f"/eth/v1/beacon/blobs/{root}" in body["message"]
        return

    response = node.api.get(path)
    assert response.headers["eth-consensus-version"] == node.fork.lower
    body = get_json(node, BLOB_SIDECARS, path)
    assert body["version"] == node.fork.lower
    assert [item["index"] for item in body["data"]] == ["0", "1"]
    assert [bytes.fromhex(item["blob"][2:]) for item in body["data"]] == SENT_BLOBS

    ssz = get_ssz(node, BLOB_SIDECARS, path + "?indices=1")
    assert ssz.headers["eth-consensus-version"] == node.fork.lower
    spec = ChainSpec.from_config({}, preset="minimal")
    sidecar_list = List[spec.types(node.fork).BlobSidecar, spec.MAX_BLOB_COMMITMENTS_PER_BLOCK]
    sidecars = sidecar_list.decode_bytes(ssz.content)
    assert [int(sidecar.index) for sidecar in sidecars] == [1]
    assert bytes(sidecars[0].blob) == SENT_BLOBS[1]
    assert "0x" + bytes(sidecars[0].signed_block_header.message.hash_tree_root()).hex() == root


def test_data_column_sidecars_route(included: tuple[BlobNode, str]) -> None:
    node, root = included
    path = f"/eth/v1/debug/beacon/data_column_sidecars/{root}"
    if node.fork < Fork.FULU:
        body = get_json(node, COLUMNS, path, status=400)
        assert "from fulu on" in body["message"]
        return

    spec = ChainSpec.from_config({}, preset="minimal")
    body = get_json(node, COLUMNS, path)
    assert body["version"] == "fulu"
    # A dev node without peers custodies every column.
    assert [int(item["index"]) for item in body["data"]] == list(range(spec.NUMBER_OF_COLUMNS))
    cells = [kzg.compute_cells(blob) for blob in SENT_BLOBS]
    for item in body["data"]:
        index = int(item["index"])
        assert [bytes.fromhex(cell[2:]) for cell in item["column"]] == [c[index] for c in cells]

    ssz = get_ssz(node, COLUMNS, path + "?indices=7,100")
    assert ssz.headers["eth-consensus-version"] == "fulu"
    column_list = List[spec.types(Fork.FULU).DataColumnSidecar, spec.NUMBER_OF_COLUMNS]
    columns = column_list.decode_bytes(ssz.content)
    assert [int(column.index) for column in columns] == [7, 100]
    assert [bytes(cell) for cell in columns[1].column] == [c[100] for c in cells]
