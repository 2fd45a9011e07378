"""Versioned routes on phase0 and electra chains, checked against the v4.0.0 document."""

from collections.abc import Iterator

import httpx
import pytest
from beacon_api_chain import DevChain
from conftest import ServerThread
from oapi_check import validate

from caplin.config.forks import Fork
from caplin.types.json import to_json

STATE = "/eth/v1/beacon/states/{state_id}"

VERSIONED_ROUTES = [
    ("/eth/v2/beacon/blocks/{block_id}", "/eth/v2/beacon/blocks/head"),
    ("/eth/v1/beacon/blinded_blocks/{block_id}", "/eth/v1/beacon/blinded_blocks/head"),
    ("/eth/v2/beacon/blocks/{block_id}/attestations", "/eth/v2/beacon/blocks/head/attestations"),
    ("/eth/v2/debug/beacon/states/{state_id}", "/eth/v2/debug/beacon/states/head"),
    ("/eth/v2/beacon/pool/attestations", "/eth/v2/beacon/pool/attestations"),
    ("/eth/v2/beacon/pool/attester_slashings", "/eth/v2/beacon/pool/attester_slashings"),
]


@pytest.fixture(scope="module", params=[Fork.PHASE0, Fork.ELECTRA], ids=lambda fork: fork.lower)
def forked(request: pytest.FixtureRequest) -> Iterator[tuple[DevChain, httpx.Client]]:
    chain = DevChain(request.param)
    chain.extend(4)
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield chain, client


@pytest.mark.parametrize(("route", "path"), VERSIONED_ROUTES, ids=[r[1] for r in VERSIONED_ROUTES])
def test_versioned_route_matches_v4(
    forked: tuple[DevChain, httpx.Client], route: str, path: str
) -> None:
    chain, client = forked
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["eth-consensus-version"] == chain.fork.lower
    body = response.json()
    assert body["version"] == chain.fork.lower
    assert validate(route, "GET", 200, body) == "beacon-node-oapi-v4.0.0.yaml"


FORK_GATED = [
    (STATE + "/sync_committees", "/eth/v1/beacon/states/head/sync_committees", Fork.ALTAIR),
    (STATE + "/pending_deposits", "/eth/v1/beacon/states/head/pending_deposits", Fork.ELECTRA),
    (
        STATE + "/pending_consolidations",
        "/eth/v1/beacon/states/head/pending_consolidations",
        Fork.ELECTRA,
    ),
    (STATE + "/proposer_lookahead", "/eth/v1/beacon/states/head/proposer_lookahead", Fork.FULU),
]


@pytest.mark.parametrize(("route", "path", "since"), FORK_GATED, ids=[r[1] for r in FORK_GATED])
def test_fork_gated_route(
    forked: tuple[DevChain, httpx.Client], route: str, path: str, since: Fork
) -> None:
    chain, client = forked
    response = client.get(path)
    expected = 200 if chain.fork >= since else 400
    assert response.status_code == expected, response.text
    validate(route, "GET", expected, response.json())


def test_blinded_phase0_is_full_block(forked: tuple[DevChain, httpx.Client]) -> None:
    chain, client = forked
    blinded = client.get("/eth/v1/beacon/blinded_blocks/head").json()["data"]
    full = client.get("/eth/v2/beacon/blocks/head").json()["data"]
    if chain.fork < Fork.BELLATRIX:
        assert blinded == full
    else:
        assert "execution_payload_header" in blinded["message"]["body"]
        assert "execution_payload" not in blinded["message"]["body"]


def test_submit_attestation_of_fork(forked: tuple[DevChain, httpx.Client]) -> None:
    chain, client = forked
    head_root, head_slot = chain.head()
    state = chain.post_states[head_root]
    attestation = chain.attestations_for(state, head_slot, head_root)[0]
    if chain.fork >= Fork.ELECTRA:
        pytest.skip("electra takes SingleAttestation, covered on the fulu chain")
    response = client.post(
        "/eth/v2/beacon/pool/attestations",
        json=[to_json(attestation)],
        headers={"eth-consensus-version": chain.fork.lower},
    )
    assert response.status_code == 200, response.text
    pooled = client.get("/eth/v2/beacon/pool/attestations").json()
    assert pooled["data"] == [to_json(attestation)]
    validate("/eth/v2/beacon/pool/attestations", "GET", 200, pooled)


# The validator namespace before fulu: sampled proposers, phase0 committee indices in the
# attestation data, blocks without blob contents.


def test_proposer_duties_before_fulu(forked: tuple[DevChain, httpx.Client]) -> None:
    from caplin.transition import helpers as h
    from caplin.transition.slot import process_slots

    chain, client = forked
    spec = chain.spec
    state = chain.post_states[chain.head()[0]].copy()
    for epoch in (0, 1):
        response = client.get(f"/eth/v1/validator/duties/proposer/{epoch}")
        assert response.status_code == 200, response.text
        validate("/eth/v1/validator/duties/proposer/{epoch}", "GET", 200, response.json())
        for duty in response.json()["data"]:
            slot = int(duty["slot"])
            if slot == 0:
                # The genesis block names no real proposer.
                continue
            root = chain.canonical_block_root(slot)
            if slot <= chain.head()[1] and root is not None:
                expected = int(chain.signed_blocks[root].message.proposer_index)
            else:
                state = process_slots(spec, state, max(slot, int(state.slot)))
                expected = h.get_beacon_proposer_index(spec, state)
            assert int(duty["validator_index"]) == expected, slot


def test_sync_duties_gated_at_altair(forked: tuple[DevChain, httpx.Client]) -> None:
    chain, client = forked
    response = client.post("/eth/v1/validator/duties/sync/0", json=["1"])
    expected = 200 if chain.fork >= Fork.ALTAIR else 400
    assert response.status_code == expected, response.text
    validate("/eth/v1/validator/duties/sync/{epoch}", "POST", expected, response.json())


def test_attestation_data_committee_index(forked: tuple[DevChain, httpx.Client]) -> None:
    chain, client = forked
    slot = chain.head()[1]
    response = client.get(f"/eth/v1/validator/attestation_data?slot={slot}&committee_index=1")
    assert response.status_code == 200, response.text
    # Electra moves the committee index out of the signed data (EIP-7549).
    expected = "0" if chain.fork >= Fork.ELECTRA else "1"
    assert response.json()["data"]["index"] == expected


def test_produce_and_publish_before_fulu(forked: tuple[DevChain, httpx.Client]) -> None:
    from caplin.types.json import from_json

    chain, client = forked
    slot = chain.head()[1] + 1
    reveal = "0x" + chain.randao_reveal(slot).hex()
    response = client.get(f"/eth/v3/validator/blocks/{slot}?randao_reveal={reveal}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == chain.fork.lower
    assert validate("/eth/v3/validator/blocks/{slot}", "GET", 200, body) == (
        "beacon-node-oapi-v4.0.0.yaml"
    )
    data = body["data"]["block"] if chain.fork >= Fork.DENEB else body["data"]
    block = from_json(chain.types.BeaconBlock, data)
    signed = chain.sign_block(block)
    contents = (
        {"signed_block": to_json(signed), "kzg_proofs": [], "blobs": []}
        if chain.fork >= Fork.DENEB
        else to_json(signed)
    )
    published = client.post("/eth/v1/beacon/blocks", json=contents)
    assert published.status_code == 200, published.text
    assert chain.head()[1] == slot


def test_aggregate_v1_before_electra(forked: tuple[DevChain, httpx.Client]) -> None:
    from caplin.types.ssz import hash_tree_root

    chain, client = forked
    head_root, head_slot = chain.head()
    aggregate = chain.attestations_for(chain.post_states[head_root], head_slot, head_root)[0]
    types = chain.types
    signed = types.SignedAggregateAndProof(
        message=types.AggregateAndProof(
            aggregator_index=0, aggregate=aggregate, selection_proof=b"\x00" * 96
        )
    )
    posted = client.post("/eth/v1/validator/aggregate_and_proofs", json=[to_json(signed)])
    root = "0x" + hash_tree_root(aggregate.data).hex()
    found = client.get(
        f"/eth/v1/validator/aggregate_attestation?attestation_data_root={root}&slot={head_slot}"
    )
    if chain.fork >= Fork.ELECTRA:
        assert posted.status_code == 400
        assert found.status_code == 400
        return
    assert posted.status_code == 200, posted.text
    assert found.status_code == 200, found.text
    assert found.json()["data"] == to_json(aggregate)
