"""Every implemented route, success and error responses, checked against the OpenAPI documents."""

from collections.abc import Iterator

import httpx
import pytest
from beacon_api_chain import DevChain, blob_chain
from conftest import SKIPPED_SLOT, ServerThread
from oapi_check import validate

from caplin.config.forks import Fork
from caplin.crypto.kzg import kzg_commitment_to_versioned_hash

UNKNOWN_ROOT = "0x" + "ab" * 32
STATE = "/eth/v1/beacon/states/{state_id}"
BLOB_SIDECARS = "/eth/v1/beacon/blob_sidecars/{block_id}"
BLOBS = "/eth/v1/beacon/blobs/{block_id}"
COLUMNS = "/eth/v1/debug/beacon/data_column_sidecars/{block_id}"
V4 = "beacon-node-oapi-v4.0.0.yaml"
SSZ = "application/octet-stream"

# (route template, path with its ids filled in, expected status). `{root}` in a path is the
# head block root and `{state_root}` the head state root, filled in by the test.
GET_CASES = [
    # node
    ("/eth/v1/node/health", "/eth/v1/node/health", 200),
    ("/eth/v1/node/version", "/eth/v1/node/version", 200),
    ("/eth/v1/node/syncing", "/eth/v1/node/syncing", 200),
    ("/eth/v1/node/identity", "/eth/v1/node/identity", 200),
    ("/eth/v1/node/peers", "/eth/v1/node/peers", 200),
    ("/eth/v1/node/peers", "/eth/v1/node/peers?state=connected&direction=inbound", 200),
    ("/eth/v1/node/peers/{peer_id}", "/eth/v1/node/peers/16Uiu2HAmPeerOne", 200),
    ("/eth/v1/node/peers/{peer_id}", "/eth/v1/node/peers/16Uiu2HAmMissing", 404),
    ("/eth/v1/node/peer_count", "/eth/v1/node/peer_count", 200),
    # config
    ("/eth/v1/config/spec", "/eth/v1/config/spec", 200),
    ("/eth/v1/config/fork_schedule", "/eth/v1/config/fork_schedule", 200),
    ("/eth/v1/config/deposit_contract", "/eth/v1/config/deposit_contract", 200),
    # beacon: genesis, headers, blocks
    ("/eth/v1/beacon/genesis", "/eth/v1/beacon/genesis", 200),
    ("/eth/v1/beacon/headers", "/eth/v1/beacon/headers", 200),
    ("/eth/v1/beacon/headers", "/eth/v1/beacon/headers?slot=3", 200),
    ("/eth/v1/beacon/headers", "/eth/v1/beacon/headers?parent_root={root}", 200),
    ("/eth/v1/beacon/headers", "/eth/v1/beacon/headers?slot=abc", 400),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/head", 200),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/genesis", 200),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/finalized", 200),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/justified", 200),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/3", 200),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/{root}", 200),
    ("/eth/v1/beacon/headers/{block_id}", f"/eth/v1/beacon/headers/{SKIPPED_SLOT}", 404),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/999", 404),
    ("/eth/v1/beacon/headers/{block_id}", f"/eth/v1/beacon/headers/{UNKNOWN_ROOT}", 404),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/current", 400),
    ("/eth/v1/beacon/headers/{block_id}", "/eth/v1/beacon/headers/0x1234", 400),
    ("/eth/v2/beacon/blocks/{block_id}", "/eth/v2/beacon/blocks/head", 200),
    ("/eth/v2/beacon/blocks/{block_id}", "/eth/v2/beacon/blocks/genesis", 200),
    ("/eth/v2/beacon/blocks/{block_id}", "/eth/v2/beacon/blocks/{root}", 200),
    ("/eth/v2/beacon/blocks/{block_id}", "/eth/v2/beacon/blocks/bad", 400),
    ("/eth/v2/beacon/blocks/{block_id}", f"/eth/v2/beacon/blocks/{UNKNOWN_ROOT}", 404),
    ("/eth/v1/beacon/blocks/{block_id}/root", "/eth/v1/beacon/blocks/head/root", 200),
    ("/eth/v1/beacon/blocks/{block_id}/root", "/eth/v1/beacon/blocks/7/root", 200),
    ("/eth/v1/beacon/blocks/{block_id}/root", "/eth/v1/beacon/blocks/-1/root", 400),
    ("/eth/v1/beacon/blocks/{block_id}/root", "/eth/v1/beacon/blocks/999/root", 404),
    (
        "/eth/v2/beacon/blocks/{block_id}/attestations",
        "/eth/v2/beacon/blocks/head/attestations",
        200,
    ),
    ("/eth/v2/beacon/blocks/{block_id}/attestations", "/eth/v2/beacon/blocks/x/attestations", 400),
    (
        "/eth/v2/beacon/blocks/{block_id}/attestations",
        "/eth/v2/beacon/blocks/999/attestations",
        404,
    ),
    ("/eth/v1/beacon/blinded_blocks/{block_id}", "/eth/v1/beacon/blinded_blocks/head", 200),
    ("/eth/v1/beacon/blinded_blocks/{block_id}", "/eth/v1/beacon/blinded_blocks/x", 400),
    ("/eth/v1/beacon/blinded_blocks/{block_id}", "/eth/v1/beacon/blinded_blocks/999", 404),
    # beacon: states
    (STATE + "/root", "/eth/v1/beacon/states/head/root", 200),
    (STATE + "/root", "/eth/v1/beacon/states/genesis/root", 200),
    (STATE + "/root", "/eth/v1/beacon/states/finalized/root", 200),
    (STATE + "/root", "/eth/v1/beacon/states/justified/root", 200),
    (STATE + "/root", f"/eth/v1/beacon/states/{SKIPPED_SLOT}/root", 200),
    (STATE + "/root", "/eth/v1/beacon/states/{state_root}/root", 200),
    (STATE + "/root", "/eth/v1/beacon/states/nope/root", 400),
    (STATE + "/root", "/eth/v1/beacon/states/999/root", 404),
    (STATE + "/root", f"/eth/v1/beacon/states/{UNKNOWN_ROOT}/root", 404),
    (STATE + "/fork", "/eth/v1/beacon/states/head/fork", 200),
    (STATE + "/fork", "/eth/v1/beacon/states/nope/fork", 400),
    (STATE + "/fork", "/eth/v1/beacon/states/999/fork", 404),
    (STATE + "/finality_checkpoints", "/eth/v1/beacon/states/head/finality_checkpoints", 200),
    (STATE + "/finality_checkpoints", "/eth/v1/beacon/states/x/finality_checkpoints", 400),
    (STATE + "/finality_checkpoints", "/eth/v1/beacon/states/999/finality_checkpoints", 404),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators", 200),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators?id=0,1&status=active", 200),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators?status=pending", 200),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators?id=zero", 400),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators?status=sleeping", 400),
    (STATE + "/validators", "/eth/v1/beacon/states/x/validators", 400),
    (
        STATE + "/validators",
        "/eth/v1/beacon/states/head/validators?id=" + ",".join(map(str, range(65))),
        414,
    ),
    (STATE + "/validators", "/eth/v1/beacon/states/999/validators", 404),
    (STATE + "/validators/{validator_id}", "/eth/v1/beacon/states/head/validators/3", 200),
    (STATE + "/validators/{validator_id}", "/eth/v1/beacon/states/head/validators/{pubkey}", 200),
    (STATE + "/validators/{validator_id}", "/eth/v1/beacon/states/head/validators/9999", 404),
    (STATE + "/validators/{validator_id}", "/eth/v1/beacon/states/head/validators/0x12", 400),
    (STATE + "/validators/{validator_id}", "/eth/v1/beacon/states/999/validators/1", 404),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/head/validator_balances", 200),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/head/validator_balances?id=1", 200),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/head/validator_balances?id=q", 400),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/999/validator_balances", 404),
    (STATE + "/committees", "/eth/v1/beacon/states/head/committees", 200),
    (STATE + "/committees", "/eth/v1/beacon/states/head/committees?epoch=2&index=0&slot=17", 200),
    (STATE + "/committees", "/eth/v1/beacon/states/head/committees?epoch=9", 400),
    (STATE + "/committees", "/eth/v1/beacon/states/999/committees", 404),
    (STATE + "/sync_committees", "/eth/v1/beacon/states/head/sync_committees", 200),
    (STATE + "/sync_committees", "/eth/v1/beacon/states/head/sync_committees?epoch=99", 400),
    (STATE + "/sync_committees", "/eth/v1/beacon/states/999/sync_committees", 404),
    (STATE + "/randao", "/eth/v1/beacon/states/head/randao", 200),
    (STATE + "/randao", "/eth/v1/beacon/states/head/randao?epoch=1", 200),
    (STATE + "/randao", "/eth/v1/beacon/states/head/randao?epoch=50", 400),
    (STATE + "/randao", "/eth/v1/beacon/states/999/randao", 404),
    (STATE + "/pending_deposits", "/eth/v1/beacon/states/head/pending_deposits", 200),
    (STATE + "/pending_deposits", "/eth/v1/beacon/states/x/pending_deposits", 400),
    (STATE + "/pending_deposits", "/eth/v1/beacon/states/999/pending_deposits", 404),
    (
        STATE + "/pending_partial_withdrawals",
        "/eth/v1/beacon/states/head/pending_partial_withdrawals",
        200,
    ),
    (
        STATE + "/pending_partial_withdrawals",
        "/eth/v1/beacon/states/999/pending_partial_withdrawals",
        404,
    ),
    (STATE + "/pending_consolidations", "/eth/v1/beacon/states/head/pending_consolidations", 200),
    (STATE + "/pending_consolidations", "/eth/v1/beacon/states/x/pending_consolidations", 400),
    (STATE + "/proposer_lookahead", "/eth/v1/beacon/states/head/proposer_lookahead", 200),
    (STATE + "/proposer_lookahead", "/eth/v1/beacon/states/x/proposer_lookahead", 400),
    (STATE + "/proposer_lookahead", "/eth/v1/beacon/states/999/proposer_lookahead", 404),
    # beacon: pools
    ("/eth/v2/beacon/pool/attestations", "/eth/v2/beacon/pool/attestations", 200),
    ("/eth/v2/beacon/pool/attestations", "/eth/v2/beacon/pool/attestations?slot=3", 200),
    ("/eth/v2/beacon/pool/attestations", "/eth/v2/beacon/pool/attestations?slot=x", 400),
    ("/eth/v2/beacon/pool/attester_slashings", "/eth/v2/beacon/pool/attester_slashings", 200),
    ("/eth/v1/beacon/pool/proposer_slashings", "/eth/v1/beacon/pool/proposer_slashings", 200),
    ("/eth/v1/beacon/pool/voluntary_exits", "/eth/v1/beacon/pool/voluntary_exits", 200),
    (
        "/eth/v1/beacon/pool/bls_to_execution_changes",
        "/eth/v1/beacon/pool/bls_to_execution_changes",
        200,
    ),
    # beacon: blob data. The chain is fulu and its blocks have no blobs.
    (BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head", 400),
    (BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/x", 400),
    (BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/999", 404),
    (BLOB_SIDECARS, f"/eth/v1/beacon/blob_sidecars/{UNKNOWN_ROOT}", 404),
    (BLOBS, "/eth/v1/beacon/blobs/head", 200),
    (BLOBS, "/eth/v1/beacon/blobs/{root}", 200),
    (BLOBS, "/eth/v1/beacon/blobs/genesis", 200),
    (BLOBS, f"/eth/v1/beacon/blobs/head?versioned_hashes={UNKNOWN_ROOT}", 200),
    (BLOBS, "/eth/v1/beacon/blobs/head?versioned_hashes=0x12", 400),
    (BLOBS, "/eth/v1/beacon/blobs/x", 400),
    (BLOBS, "/eth/v1/beacon/blobs/999", 404),
    (BLOBS, f"/eth/v1/beacon/blobs/{UNKNOWN_ROOT}", 404),
    # debug
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head", 200),
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head?indices=0,127", 200),
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head?indices=128", 400),
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head?indices=-1", 400),
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/x", 400),
    (COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/999", 404),
    ("/eth/v2/debug/beacon/states/{state_id}", "/eth/v2/debug/beacon/states/head", 200),
    ("/eth/v2/debug/beacon/states/{state_id}", "/eth/v2/debug/beacon/states/genesis", 200),
    ("/eth/v2/debug/beacon/states/{state_id}", "/eth/v2/debug/beacon/states/x", 400),
    ("/eth/v2/debug/beacon/states/{state_id}", "/eth/v2/debug/beacon/states/999", 404),
    ("/eth/v2/debug/beacon/heads", "/eth/v2/debug/beacon/heads", 200),
    ("/eth/v1/debug/fork_choice", "/eth/v1/debug/fork_choice", 200),
    # events: only the error responses end; a stream is checked in test_api_events
    ("/eth/v1/events", "/eth/v1/events?topics=nonsense", 400),
    ("/eth/v1/events", "/eth/v1/events", 400),
]


def fill(path: str, chain: DevChain) -> str:
    head_root = chain.head()[0]
    state_root = bytes(chain.signed_blocks[head_root].message.state_root)
    pubkey = bytes(chain.genesis_state.validators[2].pubkey)
    return (
        path.replace("{root}", "0x" + head_root.hex())
        .replace("{state_root}", "0x" + state_root.hex())
        .replace("{pubkey}", "0x" + pubkey.hex())
    )


@pytest.mark.parametrize(("route", "path", "status"), GET_CASES, ids=[c[1] for c in GET_CASES])
def test_get_matches_openapi(
    client: httpx.Client, chain: DevChain, route: str, path: str, status: int
) -> None:
    response = client.get(fill(path, chain))
    assert response.status_code == status, response.text[:500]
    body = response.json() if response.content else None
    validate(route, "GET", status, body)


POST_CASES = [
    # (route template, path, JSON body, expected status)
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators", {"ids": ["0", "1"]}, 200),
    (
        STATE + "/validators",
        "/eth/v1/beacon/states/head/validators",
        {"statuses": ["active_ongoing"]},
        200,
    ),
    (STATE + "/validators", "/eth/v1/beacon/states/head/validators", {"ids": "0"}, 400),
    (STATE + "/validators", "/eth/v1/beacon/states/999/validators", {}, 404),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/head/validator_balances", ["1"], 200),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/head/validator_balances", {}, 400),
    (STATE + "/validator_balances", "/eth/v1/beacon/states/999/validator_balances", [], 404),
    (STATE + "/validator_identities", "/eth/v1/beacon/states/head/validator_identities", [], 200),
    (
        STATE + "/validator_identities",
        "/eth/v1/beacon/states/head/validator_identities",
        ["1", "0x" + "00" * 48],
        200,
    ),
    (STATE + "/validator_identities", "/eth/v1/beacon/states/head/validator_identities", 5, 400),
    (STATE + "/validator_identities", "/eth/v1/beacon/states/999/validator_identities", [], 404),
]


@pytest.mark.parametrize(
    ("route", "path", "body", "status"), POST_CASES, ids=[f"{c[1]}-{c[3]}" for c in POST_CASES]
)
def test_post_matches_openapi(
    client: httpx.Client, route: str, path: str, body: object, status: int
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text[:500]
    validate(route, "POST", status, response.json())


# Blob data of chains whose head block carries two blobs: (genesis fork, route template, path,
# expected status). `{hash}` in a path is the versioned hash of the head's second blob. Every
# response is checked against the v4.0.0 document, which lists all three routes.
BLOB_CASES = [
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head", 200),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head?indices=1", 200),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head?indices=0&indices=1", 200),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head?indices=5", 200),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/genesis", 200),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head?indices=9", 400),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head?indices=one", 400),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/0x12", 400),
    (Fork.ELECTRA, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/999", 404),
    (Fork.ELECTRA, BLOBS, "/eth/v1/beacon/blobs/head", 200),
    (Fork.ELECTRA, BLOBS, "/eth/v1/beacon/blobs/head?versioned_hashes={hash}", 200),
    (Fork.ELECTRA, BLOBS, "/eth/v1/beacon/blobs/head?versioned_hashes=0xzz", 400),
    (Fork.ELECTRA, BLOBS, "/eth/v1/beacon/blobs/999", 404),
    (Fork.ELECTRA, COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head", 400),
    (Fork.FULU, COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head", 200),
    (Fork.FULU, COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head?indices=3,64", 200),
    (Fork.FULU, COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/head?indices=128", 400),
    (Fork.FULU, COLUMNS, "/eth/v1/debug/beacon/data_column_sidecars/999", 404),
    (Fork.FULU, BLOBS, "/eth/v1/beacon/blobs/head", 200),
    (Fork.FULU, BLOBS, "/eth/v1/beacon/blobs/head?versioned_hashes={hash}", 200),
    (Fork.FULU, BLOB_SIDECARS, "/eth/v1/beacon/blob_sidecars/head", 400),
]


@pytest.fixture(scope="module")
def blob_clients() -> Iterator[dict[Fork, tuple[DevChain, httpx.Client]]]:
    chains = {fork: blob_chain(fork) for fork in (Fork.ELECTRA, Fork.FULU)}
    with (
        ServerThread(chains[Fork.ELECTRA]) as electra,
        ServerThread(chains[Fork.FULU]) as fulu,
        httpx.Client(base_url=electra.url, timeout=30) as electra_client,
        httpx.Client(base_url=fulu.url, timeout=30) as fulu_client,
    ):
        yield {
            Fork.ELECTRA: (chains[Fork.ELECTRA], electra_client),
            Fork.FULU: (chains[Fork.FULU], fulu_client),
        }


@pytest.mark.parametrize(
    ("fork", "route", "path", "status"),
    BLOB_CASES,
    ids=[f"{c[0].lower}{c[2]}" for c in BLOB_CASES],
)
def test_blob_route_matches_openapi(
    blob_clients: dict[Fork, tuple[DevChain, httpx.Client]],
    fork: Fork,
    route: str,
    path: str,
    status: int,
) -> None:
    chain, client = blob_clients[fork]
    head_block = chain.block_by_root(chain.head()[0])
    commitment = bytes(head_block.message.body.blob_kzg_commitments[1])
    versioned_hash = "0x" + kzg_commitment_to_versioned_hash(commitment).hex()
    response = client.get(path.replace("{hash}", versioned_hash))
    assert response.status_code == status, response.text[:500]
    validate(route, "GET", status, response.json(), document=V4)
    if status != 200:
        return
    ssz = client.get(path.replace("{hash}", versioned_hash), headers={"Accept": SSZ})
    assert ssz.status_code == 200, ssz.text[:500]
    assert ssz.headers["content-type"] == SSZ
    validate(route, "GET", 200, ssz.content, media=SSZ, document=V4)
