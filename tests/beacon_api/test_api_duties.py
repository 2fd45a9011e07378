"""Validator namespace: duties, attestation data and sync duties against the test chain."""

import httpx
import pytest
from beacon_api_chain import DevChain
from oapi_check import validate

from caplin.transition import helpers as h
from caplin.transition.slot import process_slots
from caplin.types.ssz import decode, hash_tree_root

ATTESTER = "/eth/v1/validator/duties/attester/{epoch}"
PROPOSER = "/eth/v1/validator/duties/proposer/{epoch}"
PROPOSER_V2 = "/eth/v2/validator/duties/proposer/{epoch}"
SYNC = "/eth/v1/validator/duties/sync/{epoch}"
ALL_INDICES = [str(index) for index in range(64)]


def _head_epoch(chain: DevChain) -> int:
    return chain.head()[1] // chain.spec.SLOTS_PER_EPOCH


def _root_at(chain: DevChain, slot: int) -> str:
    """Return the root of the latest canonical block at or before `slot`."""
    if slot < 0:
        return "0x" + chain.genesis_root.hex()
    while chain.canonical_block_root(slot) is None:
        slot -= 1
    return "0x" + chain.canonical_block_root(slot).hex()


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_attester_duties_match_committees(
    client: httpx.Client, chain: DevChain, offset: int
) -> None:
    spec = chain.spec
    epoch = _head_epoch(chain) + offset
    response = client.post(f"/eth/v1/validator/duties/attester/{epoch}", json=ALL_INDICES)
    assert response.status_code == 200, response.text
    body = response.json()
    validate(ATTESTER, "POST", 200, body)

    state = chain.post_states[chain.head()[0]]
    duties = {int(duty["validator_index"]): duty for duty in body["data"]}
    assert len(duties) == 64
    for index in range(64):
        committee, committee_index, slot = h.get_committee_assignment(spec, state, epoch, index)
        duty = duties[index]
        assert int(duty["slot"]) == slot
        assert int(duty["committee_index"]) == committee_index
        assert int(duty["committee_length"]) == len(committee)
        assert int(duty["validator_committee_index"]) == committee.index(index)
        assert duty["pubkey"] == "0x" + bytes(state.validators[index].pubkey).hex()
    expected_root = _root_at(chain, (epoch - 1) * spec.SLOTS_PER_EPOCH - 1)
    assert body["dependent_root"] == expected_root
    assert body["execution_optimistic"] is False


def test_attester_duties_subset(client: httpx.Client) -> None:
    response = client.post("/eth/v1/validator/duties/attester/3", json=["5", "9"])
    assert response.status_code == 200, response.text
    assert sorted(d["validator_index"] for d in response.json()["data"]) == ["5", "9"]


def test_proposer_duties_match_blocks(client: httpx.Client, chain: DevChain) -> None:
    spec = chain.spec
    epoch = _head_epoch(chain)
    response = client.get(f"/eth/v1/validator/duties/proposer/{epoch}")
    assert response.status_code == 200, response.text
    body = response.json()
    validate(PROPOSER, "GET", 200, body)
    assert len(body["data"]) == spec.SLOTS_PER_EPOCH

    proposer_at = {int(duty["slot"]): int(duty["validator_index"]) for duty in body["data"]}
    head_slot = chain.head()[1]
    for slot in range(epoch * spec.SLOTS_PER_EPOCH, head_slot + 1):
        root = chain.canonical_block_root(slot)
        if root is not None:
            assert proposer_at[slot] == int(chain.signed_blocks[root].message.proposer_index)
    assert body["dependent_root"] == _root_at(chain, epoch * spec.SLOTS_PER_EPOCH - 1)


def test_proposer_duties_next_epoch(client: httpx.Client, chain: DevChain) -> None:
    spec = chain.spec
    epoch = _head_epoch(chain) + 1
    response = client.get(f"/eth/v2/validator/duties/proposer/{epoch}")
    assert response.status_code == 200, response.text
    body = response.json()
    validate(PROPOSER_V2, "GET", 200, body)

    state = chain.post_states[chain.head()[0]].copy()
    for duty in body["data"]:
        slot = int(duty["slot"])
        state = process_slots(spec, state, slot)
        assert int(duty["validator_index"]) == h.get_beacon_proposer_index(spec, state), slot
    assert body["dependent_root"] == _root_at(chain, (epoch - 1) * spec.SLOTS_PER_EPOCH - 1)


def test_sync_duties_match_committee(client: httpx.Client, chain: DevChain) -> None:
    response = client.post(f"/eth/v1/validator/duties/sync/{_head_epoch(chain)}", json=ALL_INDICES)
    assert response.status_code == 200, response.text
    body = response.json()
    validate(SYNC, "POST", 200, body)

    state = chain.post_states[chain.head()[0]]
    pubkeys = [bytes(pubkey) for pubkey in state.current_sync_committee.pubkeys]
    positions = sorted(
        int(position)
        for duty in body["data"]
        for position in duty["validator_sync_committee_indices"]
    )
    assert positions == list(range(len(pubkeys)))
    for duty in body["data"]:
        pubkey = bytes(state.validators[int(duty["validator_index"])].pubkey)
        for position in duty["validator_sync_committee_indices"]:
            assert pubkeys[int(position)] == pubkey


DUTY_ERRORS = [
    # (method, route template, path, JSON body or None, status, text in the message)
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/99", ["1"], 400, "epoch 99"),
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/x", ["1"], 400, "epoch"),
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/3", [], 400, "at least one"),
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/3", ["a"], 400, "index 0"),
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/3", ["64"], 400, "64"),
    ("POST", ATTESTER, "/eth/v1/validator/duties/attester/3", {"ids": []}, 400, "array"),
    ("GET", PROPOSER, "/eth/v1/validator/duties/proposer/99", None, 400, "epoch 99"),
    ("GET", PROPOSER_V2, "/eth/v2/validator/duties/proposer/-1", None, 400, "epoch"),
    ("POST", SYNC, "/eth/v1/validator/duties/sync/999", ["1"], 400, "period"),
    ("POST", SYNC, "/eth/v1/validator/duties/sync/3", ["1", "x"], 400, "index 1"),
]


@pytest.mark.parametrize(
    ("method", "route", "path", "body", "status", "text"),
    DUTY_ERRORS,
    ids=[f"{case[2]}-{case[3]}" for case in DUTY_ERRORS],
)
def test_duty_errors(
    client: httpx.Client,
    method: str,
    route: str,
    path: str,
    body: object,
    status: int,
    text: str,
) -> None:
    response = client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert text in response.json()["message"]
    validate(route, method, status, response.json())


def test_duties_while_syncing(client: httpx.Client, chain: DevChain) -> None:
    chain.syncing = True
    try:
        response = client.post("/eth/v1/validator/duties/attester/3", json=["1"])
        assert response.status_code == 503
        assert "syncing" in response.json()["message"]
        validate(ATTESTER, "POST", 503, response.json())
        response = client.get("/eth/v1/validator/duties/proposer/3")
        assert response.status_code == 503
        response = client.get("/eth/v1/validator/attestation_data?slot=26&committee_index=0")
        assert response.status_code == 503
    finally:
        chain.syncing = False


# Attestation data.

ATTESTATION_DATA = "/eth/v1/validator/attestation_data"


def test_attestation_data_matches_test_chain(client: httpx.Client, chain: DevChain) -> None:
    head_root, head_slot = chain.head()
    response = client.get(f"{ATTESTATION_DATA}?slot={head_slot}&committee_index=0")
    assert response.status_code == 200, response.text
    validate(ATTESTATION_DATA, "GET", 200, response.json())

    state = chain.post_states[head_root]
    expected = chain.attestations_for(state, head_slot, head_root)[0].data
    assert response.json()["data"]["beacon_block_root"] == "0x" + head_root.hex()
    ssz = client.get(
        f"{ATTESTATION_DATA}?slot={head_slot}", headers={"accept": "application/octet-stream"}
    )
    assert ssz.status_code == 200
    data = decode(chain.types.AttestationData, ssz.content)
    assert hash_tree_root(data) == hash_tree_root(expected)


def test_attestation_data_past_slot(client: httpx.Client, chain: DevChain) -> None:
    head_slot = chain.head()[1]
    slot = head_slot - 2
    response = client.get(f"{ATTESTATION_DATA}?slot={slot}")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["beacon_block_root"] == _root_at(chain, slot)


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("", "slot"),
        ("?slot=abc", "slot"),
        ("?slot=999", "slot 999"),
        ("?slot=1", "slot 1"),
        ("?slot=26&committee_index=5", "committee_index 5"),
    ],
)
def test_attestation_data_errors(client: httpx.Client, query: str, text: str) -> None:
    response = client.get(ATTESTATION_DATA + query)
    assert response.status_code == 400, response.text
    assert text in response.json()["message"]
    validate(ATTESTATION_DATA, "GET", 400, response.json())
