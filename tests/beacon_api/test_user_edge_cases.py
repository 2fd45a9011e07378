"""Beacon API inputs a careless or hostile tool sends: each must get a 4xx error body, never 500."""

import httpx
import pytest

# Python rejects int() on strings of more than 4,300 digits (CVE-2020-10735), so an unchecked
# conversion of such an id turned into a 500.
HUGE_NUMBER = "9" * 5000

HUGE_ID_PATHS = [
    f"/eth/v1/beacon/states/{HUGE_NUMBER}/root",
    f"/eth/v1/beacon/headers/{HUGE_NUMBER}",
    f"/eth/v1/beacon/states/head/validators/{HUGE_NUMBER}",
    f"/eth/v1/beacon/states/head/validators?id={HUGE_NUMBER}",
    f"/eth/v1/beacon/states/head/committees?epoch={HUGE_NUMBER}",
    f"/eth/v1/beacon/headers?slot={HUGE_NUMBER}",
    f"/eth/v2/beacon/pool/attestations?slot={HUGE_NUMBER}",
]


@pytest.mark.parametrize("path", HUGE_ID_PATHS)
def test_huge_number_id_rejected(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text[:200]
    body = response.json()
    assert body["code"] == 400
    assert "uint64" in body["message"]
    assert len(body["message"]) < 200


@pytest.mark.parametrize("route", ["validator_balances", "validator_identities", "validators"])
def test_huge_number_in_post_body_rejected(client: httpx.Client, route: str) -> None:
    body = f'["{HUGE_NUMBER}"]' if route != "validators" else f'{{"ids": ["{HUGE_NUMBER}"]}}'
    response = client.post(
        f"/eth/v1/beacon/states/head/{route}",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text[:200]
    assert response.json()["code"] == 400
    assert "uint64" in response.json()["message"]


def test_leading_zeros_id_accepted(client: httpx.Client) -> None:
    response = client.get("/eth/v1/beacon/states/head/validators/" + "0" * 5000)
    assert response.status_code == 200, response.text[:200]
    assert response.json()["data"]["index"] == "0"


def test_leading_zeros_in_post_body_accepted(client: httpx.Client) -> None:
    response = client.post(
        "/eth/v1/beacon/states/head/validator_balances",
        content='["' + "0" * 5000 + '1"]',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text[:200]
    assert [item["index"] for item in response.json()["data"]] == ["1"]
