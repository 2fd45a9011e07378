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
