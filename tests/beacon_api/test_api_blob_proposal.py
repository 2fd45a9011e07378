"""An external validator proposes a block with blobs through a running node's Beacon API.

The node is a `caplin` subprocess with no validators of its own and with JSON-RPC on. It
pools a blob transaction. The test requests the block, which comes as `BlockContents` with
the blobs and their proofs, then signs it and publishes the block contents. The node builds
the sidecars from them, imports the block and serves the blobs.
"""

import sys
import time
from pathlib import Path

import httpx
import pytest
from test_api_live_node import LiveNode, _domain

from caplin.config import ChainSpec
from caplin.config.constants import DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO
from caplin.config.forks import Fork
from caplin.transition import helpers as h
from caplin.types.json import from_json, to_json
from caplin.types.ssz import hash_tree_root
from caplin.validator.keys import interop_key
from caplin.validator.proposer import uint64_root

sys.path.insert(0, str(Path(__file__).parents[1] / "execution"))
from test_blobs import blob_set, sign_blob  # noqa: E402

PORTS = {"electra": (25920, 28920), "fulu": (25921, 28921)}


def send_blob_transaction(rpc_port: int) -> None:
    network_form, _ = sign_blob(blob_set(), 3, 0, [0, 1], cell_proofs=True)
    request = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_sendRawTransaction",
        "params": ["0x" + network_form.hex()],
    }
    response = httpx.post(f"http://127.0.0.1:{rpc_port}", json=request, timeout=30).json()
    assert "result" in response, response


@pytest.mark.parametrize("fork", ["electra", "fulu"])
def test_external_proposal_with_blobs(tmp_path: Path, fork: str) -> None:
    api_port, rpc_port = PORTS[fork]
    options = ("--http=true", f"--http.port={rpc_port}", f"--dev.genesis-fork={fork}")
    node = LiveNode(tmp_path / "node", api_port, run_validators=False, options=options)
    try:
        node.wait_for_api()
        client = node.client
        send_blob_transaction(rpc_port)
        while node.current_slot() < 1:
            time.sleep(0.2)
        slot = node.current_slot()
        epoch = slot // 8
        duties = client.get(f"/eth/v1/validator/duties/proposer/{epoch}").json()["data"]
        proposer = next(int(d["validator_index"]) for d in duties if int(d["slot"]) == slot)
        key = interop_key(proposer)
        reveal = key.sign(
            h.compute_signing_root(None, uint64_root(epoch), _domain(client, DOMAIN_RANDAO))
        )

        response = client.get(
            f"/eth/v3/validator/blocks/{slot}", params={"randao_reveal": "0x" + reveal.hex()}
        )
        assert response.status_code == 200, response.text
        contents = response.json()["data"]
        sent = [blob for blob, _, _, _ in blob_set()[:2]]
        assert [bytes.fromhex(blob[2:]) for blob in contents["blobs"]] == sent
        proofs_per_blob = 128 if fork == "fulu" else 1
        assert len(contents["kzg_proofs"]) == 2 * proofs_per_blob

        spec = ChainSpec.for_preset("minimal")
        types = spec.types(Fork.from_name(fork))
        block = from_json(types.BeaconBlock, contents["block"])
        assert len(block.body.blob_kzg_commitments) == 2
        signing_root = h.compute_signing_root(None, block, _domain(client, DOMAIN_BEACON_PROPOSER))
        signed = types.SignedBeaconBlock(message=block, signature=key.sign(signing_root))
        published = client.post(
            "/eth/v2/beacon/blocks",
            json={
                "signed_block": to_json(signed),
                "kzg_proofs": contents["kzg_proofs"],
                "blobs": contents["blobs"],
            },
            headers={"eth-consensus-version": fork},
        )
        assert published.status_code == 200, published.text
        head = client.get("/eth/v1/beacon/headers/head").json()["data"]
        assert head["root"] == "0x" + hash_tree_root(block).hex()
        blobs = client.get("/eth/v1/beacon/blobs/head").json()["data"]
        assert [bytes.fromhex(blob[2:]) for blob in blobs] == sent
    finally:
        node.stop()
