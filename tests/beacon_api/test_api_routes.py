"""Beacon API behaviour: SSZ bodies, flags, block publication, pool submissions, namespaces."""

from collections.abc import Iterator

import httpx
import pytest
from beacon_api_chain import DevChain
from conftest import CHAIN_SLOTS, SKIPPED_SLOT, ServerThread
from oapi_check import validate

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition import helpers as h
from caplin.types.json import from_json, to_json
from caplin.types.ssz import encode

SSZ = {"accept": "application/octet-stream"}


@pytest.fixture(scope="module")
def writable() -> Iterator[tuple[DevChain, httpx.Client]]:
    """A chain of its own for the tests that add blocks and pool entries."""
    chain = DevChain()
    chain.extend(3)
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield chain, client


# Reads.


def test_block_ssz_matches_encoding(client: httpx.Client, chain: DevChain) -> None:
    response = client.get("/eth/v2/beacon/blocks/head", headers=SSZ)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["eth-consensus-version"] == "fulu"
    assert response.content == encode(chain.signed_blocks[chain.head()[0]])


def test_block_json_round_trips(client: httpx.Client, chain: DevChain) -> None:
    body = client.get("/eth/v2/beacon/blocks/3").json()
    assert body["version"] == "fulu"
    decoded = from_json(chain.spec.types(Fork.FULU).SignedBeaconBlock, body["data"])
    assert bytes(decoded.message.hash_tree_root()) == chain.canonical_block_root(3)


def test_debug_state_ssz_matches_encoding(client: httpx.Client, chain: DevChain) -> None:
    response = client.get("/eth/v2/debug/beacon/states/genesis", headers=SSZ)
    assert response.status_code == 200
    assert response.headers["eth-consensus-version"] == "fulu"
    assert response.content == encode(chain.genesis_state)


def test_skipped_slot_state_is_advanced(client: httpx.Client, chain: DevChain) -> None:
    body = client.get(f"/eth/v2/debug/beacon/states/{SKIPPED_SLOT}").json()
    assert body["data"]["slot"] == str(SKIPPED_SLOT)
    header_slot = body["data"]["latest_block_header"]["slot"]
    assert header_slot == str(SKIPPED_SLOT - 1)


def test_state_root_by_root_id(client: httpx.Client, chain: DevChain) -> None:
    head_root = chain.head()[0]
    state_root = "0x" + bytes(chain.signed_blocks[head_root].message.state_root).hex()
    body = client.get(f"/eth/v1/beacon/states/{state_root}/root").json()
    assert body["data"]["root"] == state_root


def test_genesis_block_is_finalized(client: httpx.Client) -> None:
    body = client.get("/eth/v1/beacon/headers/genesis").json()
    assert body["finalized"] is True
    assert body["data"]["canonical"] is True
    assert body["data"]["header"]["message"]["slot"] == "0"


def test_head_header_not_finalized(client: httpx.Client, chain: DevChain) -> None:
    body = client.get("/eth/v1/beacon/headers/head").json()
    assert body["finalized"] is False
    assert body["execution_optimistic"] is False
    assert body["data"]["root"] == "0x" + chain.head()[0].hex()
    assert body["data"]["header"]["message"]["slot"] == str(CHAIN_SLOTS)


def test_block_attestations_listed(client: httpx.Client, chain: DevChain) -> None:
    body = client.get("/eth/v2/beacon/blocks/head/attestations").json()
    block = chain.signed_blocks[chain.head()[0]]
    assert body["version"] == "fulu"
    assert body["data"] == [to_json(item) for item in block.message.body.attestations]
    assert len(body["data"]) > 0


def test_blinded_block_keeps_root(client: httpx.Client, chain: DevChain) -> None:
    body = client.get("/eth/v1/beacon/blinded_blocks/head").json()
    blinded = from_json(chain.spec.types(Fork.FULU).SignedBlindedBeaconBlock, body["data"])
    # A blinded block has the same hash tree root as the full block.
    assert bytes(blinded.message.hash_tree_root()) == chain.head()[0]


def test_validators_filtered_by_status(client: httpx.Client) -> None:
    body = client.get("/eth/v1/beacon/states/head/validators?status=active&id=0,5,0x12" + "00" * 47)
    items = body.json()["data"]
    assert [item["index"] for item in items] == ["0", "5"]
    assert all(item["status"] == "active_ongoing" for item in items)
    pending = client.get("/eth/v1/beacon/states/head/validators?status=pending").json()
    assert pending["data"] == []


def test_validator_by_pubkey(client: httpx.Client, chain: DevChain) -> None:
    pubkey = "0x" + bytes(chain.genesis_state.validators[7].pubkey).hex()
    body = client.get(f"/eth/v1/beacon/states/head/validators/{pubkey}").json()
    assert body["data"]["index"] == "7"
    assert body["data"]["validator"]["pubkey"] == pubkey
    assert body["data"]["balance"] == str(int(chain.post_states[chain.head()[0]].balances[7]))


def test_committees_match_helpers(client: httpx.Client, chain: DevChain) -> None:
    state = chain.post_states[chain.head()[0]]
    body = client.get("/eth/v1/beacon/states/head/committees?slot=24").json()
    expected = h.get_beacon_committee(chain.spec, state, 24, 0)
    assert body["data"][0]["validators"] == [str(index) for index in expected]
    assert all(item["slot"] == "24" for item in body["data"])


def test_sync_committee_aggregates(client: httpx.Client, chain: DevChain) -> None:
    data = client.get("/eth/v1/beacon/states/head/sync_committees").json()["data"]
    assert len(data["validators"]) == chain.spec.SYNC_COMMITTEE_SIZE
    assert len(data["validator_aggregates"]) == constants.SYNC_COMMITTEE_SUBNET_COUNT
    flattened = [index for group in data["validator_aggregates"] for index in group]
    assert flattened == data["validators"]


def test_finality_checkpoints_follow_state(client: httpx.Client, chain: DevChain) -> None:
    data = client.get("/eth/v1/beacon/states/head/finality_checkpoints").json()["data"]
    state = chain.post_states[chain.head()[0]]
    assert data["current_justified"]["epoch"] == str(int(state.current_justified_checkpoint.epoch))
    assert int(data["current_justified"]["epoch"]) >= 1


def test_fork_choice_lists_every_block(client: httpx.Client, chain: DevChain) -> None:
    body = client.get("/eth/v1/debug/fork_choice").json()
    roots = {node["block_root"] for node in body["fork_choice_nodes"]}
    assert roots == {"0x" + root.hex() for root in chain.signed_blocks}
    heads = client.get("/eth/v2/debug/beacon/heads").json()["data"]
    assert [head["root"] for head in heads] == ["0x" + chain.head()[0].hex()]


def test_config_spec_values(client: httpx.Client, chain: DevChain) -> None:
    data = client.get("/eth/v1/config/spec").json()["data"]
    assert data["SLOTS_PER_EPOCH"] == str(chain.spec.SLOTS_PER_EPOCH)
    assert data["FULU_FORK_EPOCH"] == "0"
    assert data["DOMAIN_BEACON_PROPOSER"] == "0x00000000"
    assert data["GENESIS_FORK_VERSION"] == "0x" + chain.spec.GENESIS_FORK_VERSION.hex()


def test_unsupported_accept_rejected(client: httpx.Client) -> None:
    response = client.get("/eth/v2/beacon/blocks/head", headers={"accept": "text/html"})
    assert response.status_code == 406
    assert response.json()["code"] == 406


def test_health_while_syncing(client: httpx.Client, chain: DevChain) -> None:
    chain.syncing = True
    try:
        assert client.get("/eth/v1/node/health").status_code == 206
        assert client.get("/eth/v1/node/health?syncing_status=200").status_code == 200
        assert client.get("/eth/v1/node/syncing").json()["data"]["is_syncing"] is True
    finally:
        chain.syncing = False
    assert client.get("/eth/v1/node/health").status_code == 200


# Block publication.


def _next_block(chain: DevChain) -> object:
    return chain.make_block(chain.head()[1] + 1)


def test_publish_block_json(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    block = _next_block(chain)
    body = {"signed_block": to_json(block), "kzg_proofs": [], "blobs": []}
    response = client.post(
        "/eth/v2/beacon/blocks", json=body, headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 200, response.text
    assert chain.head()[0] == bytes(block.message.hash_tree_root())


def test_publish_block_ssz(writable: tuple[DevChain, httpx.Client]) -> None:
    from beacon_api.submission import signed_block_contents_type

    chain, client = writable
    block = _next_block(chain)
    contents = signed_block_contents_type(chain.spec, Fork.FULU)(signed_block=block)
    response = client.post(
        "/eth/v2/beacon/blocks",
        content=encode(contents),
        headers={"eth-consensus-version": "fulu", "content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert chain.head()[0] == bytes(block.message.hash_tree_root())


def test_publish_bad_signature_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    block = _next_block(chain)
    block.signature = bls.Sign(12345, b"\x00" * 32)
    body = {"signed_block": to_json(block), "kzg_proofs": [], "blobs": []}
    response = client.post(
        "/eth/v2/beacon/blocks", json=body, headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 400
    assert "signature" in response.json()["message"]
    validate("/eth/v2/beacon/blocks", "POST", 400, response.json())


PUBLISH_ERRORS = [
    ({"eth-consensus-version": "fulu", "content-type": "text/plain"}, b"x", 415),
    ({}, b"{}", 400),
    ({"eth-consensus-version": "merge"}, b"{}", 400),
    ({"eth-consensus-version": "fulu", "content-type": "application/json"}, b"{", 400),
    ({"eth-consensus-version": "fulu", "content-type": "application/json"}, b"{}", 400),
    ({"eth-consensus-version": "fulu", "content-type": "application/octet-stream"}, b"\x01", 400),
]


@pytest.mark.parametrize(("headers", "content", "status"), PUBLISH_ERRORS)
def test_publish_malformed_rejected(
    writable: tuple[DevChain, httpx.Client], headers: dict, content: bytes, status: int
) -> None:
    _, client = writable
    response = client.post("/eth/v2/beacon/blocks", content=content, headers=headers)
    assert response.status_code == status, response.text
    validate("/eth/v2/beacon/blocks", "POST", status, response.json())


def test_publish_wrong_fork_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    block = _next_block(chain)
    response = client.post(
        "/eth/v2/beacon/blocks",
        content=encode(block),
        headers={"eth-consensus-version": "electra", "content-type": "application/octet-stream"},
    )
    assert response.status_code == 400


# Pool submissions.


def _single_attestation(chain: DevChain, attester_position: int = 0) -> dict:
    head_root, head_slot = chain.head()
    state = chain.post_states[head_root]
    committee = h.get_beacon_committee(chain.spec, state, head_slot, 0)
    attestation = chain.attestations_for(state, head_slot, head_root)[0]
    attester = committee[attester_position]
    epoch = h.compute_epoch_at_slot(chain.spec, head_slot)
    signature = chain._sign(
        state, constants.DOMAIN_BEACON_ATTESTER, epoch, attestation.data, attester
    )
    single = chain.types.SingleAttestation(
        committee_index=0, attester_index=attester, data=attestation.data, signature=signature
    )
    return to_json(single)


def test_submit_attestation_pooled(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    item = _single_attestation(chain)
    response = client.post(
        "/eth/v2/beacon/pool/attestations", json=[item], headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 200, response.text
    pooled = client.get(f"/eth/v2/beacon/pool/attestations?slot={item['data']['slot']}").json()
    assert pooled["version"] == "fulu"
    assert len(pooled["data"]) == 1
    validate("/eth/v2/beacon/pool/attestations", "GET", 200, pooled)


def test_submit_bad_attestation_indexed(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    good = _single_attestation(chain, 1)
    bad = dict(good, signature="0x" + bls.Sign(999, b"\x01" * 32).hex())
    response = client.post(
        "/eth/v2/beacon/pool/attestations",
        json=[good, bad],
        headers={"eth-consensus-version": "fulu"},
    )
    assert response.status_code == 400
    body = response.json()
    assert [failure["index"] for failure in body["failures"]] == [1]
    validate("/eth/v2/beacon/pool/attestations", "POST", 400, body)


def _signed_header(chain: DevChain, slot: int, proposer: int, graffiti: bytes) -> object:
    types = chain.types
    state = chain.post_states[chain.head()[0]]
    header = types.BeaconBlockHeader(
        slot=slot, proposer_index=proposer, parent_root=b"\x11" * 32, body_root=graffiti * 32
    )
    epoch = h.compute_epoch_at_slot(chain.spec, slot)
    signature = chain._sign(state, constants.DOMAIN_BEACON_PROPOSER, epoch, header, proposer)
    return types.SignedBeaconBlockHeader(message=header, signature=signature)


def test_submit_proposer_slashing(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1]
    slashing = chain.types.ProposerSlashing(
        signed_header_1=_signed_header(chain, slot, 9, b"\x01"),
        signed_header_2=_signed_header(chain, slot, 9, b"\x02"),
    )
    response = client.post("/eth/v1/beacon/pool/proposer_slashings", json=to_json(slashing))
    assert response.status_code == 200, response.text
    pooled = client.get("/eth/v1/beacon/pool/proposer_slashings").json()
    assert pooled["data"] == [to_json(slashing)]
    validate("/eth/v1/beacon/pool/proposer_slashings", "GET", 200, pooled)


def test_submit_early_exit_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    state = chain.post_states[chain.head()[0]]
    exit_message = chain.types.VoluntaryExit(epoch=0, validator_index=4)
    signature = chain._sign(state, constants.DOMAIN_VOLUNTARY_EXIT, 0, exit_message, 4)
    signed = chain.types.SignedVoluntaryExit(message=exit_message, signature=signature)
    response = client.post("/eth/v1/beacon/pool/voluntary_exits", json=to_json(signed))
    # The validator has not been active for SHARD_COMMITTEE_PERIOD epochs yet.
    assert response.status_code == 400
    validate("/eth/v1/beacon/pool/voluntary_exits", "POST", 400, response.json())
    assert client.get("/eth/v1/beacon/pool/voluntary_exits").json()["data"] == []


def test_submit_bls_change_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    change = chain.types.BLSToExecutionChange(
        validator_index=3, from_bls_pubkey=bls.SkToPk(4), to_execution_address=b"\x22" * 20
    )
    signed = chain.types.SignedBLSToExecutionChange(message=change, signature=bls.Sign(4, b"x"))
    response = client.post("/eth/v1/beacon/pool/bls_to_execution_changes", json=[to_json(signed)])
    # The test validators already have 0x01 execution credentials.
    assert response.status_code == 400
    body = response.json()
    assert body["failures"][0]["index"] == 0
    validate("/eth/v1/beacon/pool/bls_to_execution_changes", "POST", 400, body)


def test_submit_malformed_operation(writable: tuple[DevChain, httpx.Client]) -> None:
    _, client = writable
    response = client.post("/eth/v1/beacon/pool/voluntary_exits", json={"message": {}})
    assert response.status_code == 400
    validate("/eth/v1/beacon/pool/voluntary_exits", "POST", 400, response.json())
    response = client.post(
        "/eth/v2/beacon/pool/attestations", json={}, headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 400


# Namespaces and CORS.


def test_disabled_namespace_is_404(chain: DevChain) -> None:
    with ServerThread(chain, namespaces=("node",)) as server:
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/eth/v1/node/version").status_code == 200
            response = client.get("/eth/v1/beacon/genesis")
            assert response.status_code == 404
            assert response.json()["code"] == 404
            assert client.get("/eth/v1/debug/fork_choice").status_code == 404


def test_unknown_namespace_raises(chain: DevChain) -> None:
    from beacon_api.server import create_app

    with pytest.raises(ValueError, match="lodestar"):
        create_app(chain, ("beacon", "lodestar"))


def test_cors_origin_allowed(chain: DevChain) -> None:
    from beacon_api.server import create_app

    app = create_app(chain, cors_origins=["http://localhost:3000"])
    transport = httpx.ASGITransport(app=app)

    async def preflight() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.options(
                "/eth/v1/node/version",
                headers={
                    "origin": "http://localhost:3000",
                    "access-control-request-method": "GET",
                },
            )

    import trio

    response = trio.run(preflight)
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
