"""Request limits: body size (413), Content-Type (415), required bodies, id counts, port in use."""

import socket
from collections.abc import Iterator

import httpx
import pytest
import trio
from beacon_api_chain import DevChain

from beacon_api.limits import BLOCK_BODY_LIMIT, DEFAULT_BODY_LIMIT, body_limit
from beacon_api.server import serve
from beacon_api.submission import MAX_REQUEST_IDS
from caplin.errors import NetworkError

VALIDATORS = "/eth/v1/beacon/states/head/validators"


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["code"] == status
    return body["message"]


def test_body_limit_by_route() -> None:
    assert body_limit("/eth/v2/beacon/blocks") == BLOCK_BODY_LIMIT
    assert body_limit("/eth/v1/beacon/blocks/") == BLOCK_BODY_LIMIT
    assert body_limit(VALIDATORS) == DEFAULT_BODY_LIMIT


def test_declared_oversized_body_rejected(client: httpx.Client) -> None:
    body = b"[" + b'"1",' * (DEFAULT_BODY_LIMIT // 4) + b'"1"]'
    response = client.post(VALIDATORS, content=body, headers={"content-type": "application/json"})
    message = _error(response, 413)
    assert str(DEFAULT_BODY_LIMIT) in message
    assert VALIDATORS in message


def test_chunked_oversized_body_rejected(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        chunk = b" " * (1024 * 1024)
        for _ in range(DEFAULT_BODY_LIMIT // len(chunk) + 2):
            yield chunk

    response = client.post(
        "/eth/v1/validator/duties/attester/1",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert str(DEFAULT_BODY_LIMIT) in _error(response, 413)


def test_block_route_takes_larger_bodies(client: httpx.Client) -> None:
    # Past the default limit but under the block limit: decoded, then rejected as invalid.
    body = b'{"x": "' + b"0" * (DEFAULT_BODY_LIMIT + 10) + b'"}'
    response = client.post(
        "/eth/v2/beacon/blocks",
        content=body,
        headers={"content-type": "application/json", "eth-consensus-version": "fulu"},
    )
    assert response.status_code == 400, response.text[:300]


def test_server_usable_after_413(client: httpx.Client) -> None:
    client.post(VALIDATORS, content=b" " * (DEFAULT_BODY_LIMIT + 1))
    assert client.get("/eth/v1/node/health").status_code == 200


WRONG_TYPE_POSTS = [
    (VALIDATORS, b"{}"),
    ("/eth/v1/beacon/states/head/validator_balances", b"[]"),
    ("/eth/v1/beacon/states/head/validator_identities", b"[]"),
    ("/eth/v1/validator/duties/attester/1", b'["1"]'),
    ("/eth/v1/validator/duties/sync/1", b'["1"]'),
    ("/eth/v1/validator/liveness/1", b'["1"]'),
    ("/eth/v1/validator/prepare_beacon_proposer", b"[]"),
    ("/eth/v1/validator/beacon_committee_subscriptions", b"[]"),
    ("/eth/v1/validator/contribution_and_proofs", b"[]"),
    ("/eth/v1/beacon/pool/voluntary_exits", b"{}"),
]


@pytest.mark.parametrize(("path", "body"), WRONG_TYPE_POSTS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_rejected(
    client: httpx.Client, path: str, body: bytes, content_type: str
) -> None:
    response = client.post(path, content=body, headers={"content-type": content_type})
    message = _error(response, 415)
    assert content_type in message
    assert "application/json" in message


def test_ssz_aggregates_accepted_type(client: httpx.Client) -> None:
    # SSZ is a documented body type of this route: an empty SSZ list is decoded, not a 415.
    response = client.post(
        "/eth/v2/validator/aggregate_and_proofs",
        content=b"",
        headers={"content-type": "application/octet-stream", "eth-consensus-version": "fulu"},
    )
    assert response.status_code == 200, response.text


def test_post_validators_requires_body(client: httpx.Client) -> None:
    response = client.post(VALIDATORS, headers={"content-type": "application/json"})
    assert "missing request body" in _error(response, 400)


def test_post_validators_empty_object_is_all(client: httpx.Client, chain: DevChain) -> None:
    response = client.post(VALIDATORS, json={})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == len(chain.genesis_state.validators)


def test_post_balances_without_body_is_all(client: httpx.Client, chain: DevChain) -> None:
    response = client.post("/eth/v1/beacon/states/head/validator_balances")
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]) == len(chain.genesis_state.validators)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (VALIDATORS, {"ids": ["1"] * (MAX_REQUEST_IDS + 1)}),
        ("/eth/v1/beacon/states/head/validator_balances", ["1"] * (MAX_REQUEST_IDS + 1)),
        ("/eth/v1/validator/duties/attester/1", ["1"] * (MAX_REQUEST_IDS + 1)),
        ("/eth/v1/validator/liveness/1", ["1"] * (MAX_REQUEST_IDS + 1)),
    ],
)
def test_too_many_ids_rejected(client: httpx.Client, path: str, body: object) -> None:
    message = _error(client.post(path, json=body), 400)
    assert str(MAX_REQUEST_IDS) in message


def test_ids_at_limit_accepted(client: httpx.Client) -> None:
    response = client.post(VALIDATORS, json={"ids": [str(i % 64) for i in range(MAX_REQUEST_IDS)]})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["data"]) == 64


def test_port_in_use_names_flag(chain: DevChain) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    lambda task_status: serve(chain, port=port, task_status=task_status)
                )

        with pytest.raises(BaseException) as raised:
            trio.run(main)
    errors = (
        raised.value.exceptions if isinstance(raised.value, BaseExceptionGroup) else [raised.value]
    )
    while any(isinstance(error, BaseExceptionGroup) for error in errors):
        errors = [leaf for error in errors for leaf in getattr(error, "exceptions", [error])]
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, NetworkError), repr(error)
    assert f"port {port}" in str(error)
    assert "--beacon.api.port" in str(error)
