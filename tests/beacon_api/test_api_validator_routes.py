"""Validator namespace: block production, aggregates, contributions, preparation, liveness."""

from collections.abc import Iterator

import httpx
import pytest
from beacon_api_chain import DevChain
from conftest import ServerThread
from oapi_check import validate

from beacon_api.submission import block_contents_type
from caplin.config.constants import G2_POINT_AT_INFINITY
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.types.json import from_json, to_json
from caplin.types.ssz import decode, hash_tree_root

BLOCK_V3 = "/eth/v3/validator/blocks/{slot}"
AGGREGATE = "/eth/v2/validator/aggregate_attestation"
AGGREGATES_POST = "/eth/v2/validator/aggregate_and_proofs"
CONTRIBUTION = "/eth/v1/validator/sync_committee_contribution"
CONTRIBUTIONS_POST = "/eth/v1/validator/contribution_and_proofs"
PREPARE = "/eth/v1/validator/prepare_beacon_proposer"
LIVENESS = "/eth/v1/validator/liveness/{epoch}"
SUBSCRIPTIONS = "/eth/v1/validator/beacon_committee_subscriptions"
SYNC_SUBSCRIPTIONS = "/eth/v1/validator/sync_committee_subscriptions"


@pytest.fixture(scope="module")
def writable() -> Iterator[tuple[DevChain, httpx.Client]]:
    """A chain of its own: these tests add blocks and pool entries."""
    chain = DevChain()
    chain.extend(3)
    with ServerThread(chain) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield chain, client


def _reveal_query(chain: DevChain, slot: int) -> str:
    return "randao_reveal=0x" + chain.randao_reveal(slot).hex()


# Block production.


def test_produce_block_json_then_publish(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    graffiti = "0x" + b"external".ljust(32, b"\x00").hex()
    response = client.get(
        f"/eth/v3/validator/blocks/{slot}?{_reveal_query(chain, slot)}&graffiti={graffiti}"
    )
    assert response.status_code == 200, response.text
    body = response.json()
    validate(BLOCK_V3, "GET", 200, body)
    assert response.headers["eth-consensus-version"] == "fulu"
    assert response.headers["eth-execution-payload-blinded"] == "false"
    assert response.headers["eth-execution-payload-value"] == "7"
    assert response.headers["eth-consensus-block-value"] == str(3 * 10**9)
    assert body["execution_payload_blinded"] is False
    assert body["data"]["block"]["body"]["graffiti"] == graffiti

    block = from_json(chain.types.BeaconBlock, body["data"]["block"])
    assert int(block.slot) == slot
    signed = chain.sign_block(block)
    published = client.post(
        "/eth/v2/beacon/blocks",
        json={"signed_block": to_json(signed), "kzg_proofs": [], "blobs": []},
        headers={"eth-consensus-version": "fulu"},
    )
    assert published.status_code == 200, published.text
    assert chain.head()[0] == hash_tree_root(block)


def test_produce_block_ssz(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    response = client.get(
        f"/eth/v3/validator/blocks/{slot}?{_reveal_query(chain, slot)}",
        headers={"accept": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["eth-consensus-version"] == "fulu"
    contents = decode(block_contents_type(chain.spec, Fork.FULU), response.content)
    assert int(contents.block.slot) == slot
    assert bytes(contents.block.body.graffiti) == b"\x00" * 32


def test_produce_block_skip_randao(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    infinity = "0x" + G2_POINT_AT_INFINITY.hex()
    response = client.get(
        f"/eth/v3/validator/blocks/{slot}?randao_reveal={infinity}&skip_randao_verification"
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["block"]["body"]["randao_reveal"] == infinity


def test_produce_block_uses_prepared_fee_recipient(
    writable: tuple[DevChain, httpx.Client],
) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    proposer = int(
        next(
            duty["validator_index"]
            for duty in client.get(f"/eth/v1/validator/duties/proposer/{slot // 8}").json()["data"]
            if int(duty["slot"]) == slot
        )
    )
    recipient = "0x" + "42" * 20
    prepared = client.post(
        PREPARE, json=[{"validator_index": str(proposer), "fee_recipient": recipient}]
    )
    assert prepared.status_code == 200, prepared.text
    produced = client.get(f"/eth/v3/validator/blocks/{slot}?{_reveal_query(chain, slot)}")
    assert produced.status_code == 200, produced.text
    assert chain.fee_recipients[-1] == bytes.fromhex("42" * 20)


def _bad_reveal(chain: DevChain, slot: int) -> str:
    return "randao_reveal=0x" + bls.Sign(99, b"\x01" * 32).hex()


BLOCK_ERRORS = [
    # (query builder, slot offset from the head, text in the message)
    (lambda chain, slot: "", 1, "randao_reveal"),
    (_bad_reveal, 1, "invalid randao_reveal"),
    (lambda chain, slot: "randao_reveal=0x1234", 1, "96 bytes"),
    (lambda chain, slot: _reveal_query(chain, slot) + "&graffiti=0x12", 1, "graffiti"),
    (
        lambda chain, slot: (
            "randao_reveal=0x" + bls.Sign(5, b"\x00" * 32).hex() + "&skip_randao_verification"
        ),
        1,
        "infinity",
    ),
    (_reveal_query, 0, "not after the head slot"),
    (_reveal_query, 5, "later than the next slot"),
]


@pytest.mark.parametrize(("query", "offset", "text"), BLOCK_ERRORS)
def test_produce_block_errors(
    writable: tuple[DevChain, httpx.Client], query: object, offset: int, text: str
) -> None:
    chain, client = writable
    slot = chain.head()[1] + offset
    reveal_slot = max(slot, chain.head()[1] + 1)
    response = client.get(f"/eth/v3/validator/blocks/{slot}?{query(chain, reveal_slot)}")  # type: ignore[operator]
    assert response.status_code == 400, response.text
    assert text in response.json()["message"]
    validate(BLOCK_V3, "GET", 400, response.json())


def test_produce_block_while_syncing(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    chain.syncing = True
    try:
        response = client.get(f"/eth/v3/validator/blocks/{slot}?{_reveal_query(chain, slot)}")
    finally:
        chain.syncing = False
    assert response.status_code == 503
    validate(BLOCK_V3, "GET", 503, response.json())


def test_publish_block_v1(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    block = chain.make_block(chain.head()[1] + 1)
    body = {"signed_block": to_json(block), "kzg_proofs": [], "blobs": []}
    response = client.post("/eth/v1/beacon/blocks", json=body)
    assert response.status_code == 200, response.text
    assert chain.head()[0] == hash_tree_root(block.message)


# Aggregates.


def _signed_aggregate(chain: DevChain) -> tuple[object, int]:
    head_root, head_slot = chain.head()
    state = chain.post_states[head_root]
    aggregate = chain.attestations_for(state, head_slot, head_root)[0]
    types = chain.types
    message = types.AggregateAndProof(
        aggregator_index=0, aggregate=aggregate, selection_proof=b"\x00" * 96
    )
    return types.SignedAggregateAndProof(message=message, signature=b"\x00" * 96), head_slot


def test_aggregate_roundtrip(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    signed, slot = _signed_aggregate(chain)
    response = client.post(
        AGGREGATES_POST, json=[to_json(signed)], headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 200, response.text

    data_root = "0x" + hash_tree_root(signed.message.aggregate.data).hex()
    found = client.get(
        f"{AGGREGATE}?attestation_data_root={data_root}&slot={slot}&committee_index=0"
    )
    assert found.status_code == 200, found.text
    validate(AGGREGATE, "GET", 200, found.json())
    assert found.headers["eth-consensus-version"] == "fulu"
    assert found.json()["data"] == to_json(signed.message.aggregate)

    other_committee = client.get(
        f"{AGGREGATE}?attestation_data_root={data_root}&slot={slot}&committee_index=1"
    )
    assert other_committee.status_code == 404
    validate(AGGREGATE, "GET", 404, other_committee.json())


def test_aggregate_bad_signature_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    signed, _ = _signed_aggregate(chain)
    signed.message.aggregate.signature = bls.Sign(7, b"\x02" * 32)
    response = client.post(
        AGGREGATES_POST, json=[to_json(signed)], headers={"eth-consensus-version": "fulu"}
    )
    assert response.status_code == 400
    assert response.json()["failures"][0]["index"] == 0
    validate(AGGREGATES_POST, "POST", 400, response.json())


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("slot=1&committee_index=0", 400),
        ("attestation_data_root=0x12&slot=1&committee_index=0", 400),
        (f"attestation_data_root=0x{'ab' * 32}&committee_index=0", 400),
        (f"attestation_data_root=0x{'ab' * 32}&slot=1&committee_index=0", 404),
    ],
)
def test_aggregate_query_errors(client: httpx.Client, query: str, status: int) -> None:
    response = client.get(f"{AGGREGATE}?{query}")
    assert response.status_code == status, response.text
    validate(AGGREGATE, "GET", status, response.json())


def test_aggregate_v1_rejects_electra(client: httpx.Client) -> None:
    response = client.get(
        f"/eth/v1/validator/aggregate_attestation?attestation_data_root=0x{'ab' * 32}&slot=1"
    )
    assert response.status_code == 400
    assert "/eth/v2/validator/aggregate_attestation" in response.json()["message"]


def test_aggregates_post_needs_version(client: httpx.Client) -> None:
    response = client.post(AGGREGATES_POST, json=[])
    assert response.status_code == 400
    assert "Eth-Consensus-Version" in response.json()["message"]


# Sync committee contributions.


def test_contribution_roundtrip(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    head_root, head_slot = chain.head()
    types = chain.types
    contribution = types.SyncCommitteeContribution(
        slot=head_slot,
        beacon_block_root=head_root,
        subcommittee_index=1,
        aggregation_bits=[True] + [False] * 7,
        signature=bls.Sign(3, head_root),
    )
    signed = types.SignedContributionAndProof(
        message=types.ContributionAndProof(
            aggregator_index=3, contribution=contribution, selection_proof=b"\x00" * 96
        )
    )
    response = client.post(CONTRIBUTIONS_POST, json=[to_json(signed)])
    assert response.status_code == 200, response.text

    query = f"slot={head_slot}&subcommittee_index=1&beacon_block_root=0x{head_root.hex()}"
    found = client.get(f"{CONTRIBUTION}?{query}")
    assert found.status_code == 200, found.text
    validate(CONTRIBUTION, "GET", 200, found.json())
    assert found.json()["data"] == to_json(contribution)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        (f"slot=1&subcommittee_index=4&beacon_block_root=0x{'ab' * 32}", 400),
        (f"slot=1&beacon_block_root=0x{'ab' * 32}", 400),
        ("slot=1&subcommittee_index=0", 400),
        (f"slot=1&subcommittee_index=0&beacon_block_root=0x{'ab' * 32}", 404),
    ],
)
def test_contribution_query_errors(client: httpx.Client, query: str, status: int) -> None:
    response = client.get(f"{CONTRIBUTION}?{query}")
    assert response.status_code == status, response.text
    validate(CONTRIBUTION, "GET", status, response.json())


# Subscriptions, preparation and liveness.

ACCEPTED_POSTS = [
    (
        SUBSCRIPTIONS,
        [
            {
                "validator_index": "1",
                "committee_index": "0",
                "committees_at_slot": "2",
                "slot": "27",
                "is_aggregator": True,
            }
        ],
    ),
    (
        SYNC_SUBSCRIPTIONS,
        [{"validator_index": "1", "sync_committee_indices": ["0", "5"], "until_epoch": "8"}],
    ),
    (PREPARE, [{"validator_index": "1", "fee_recipient": "0x" + "11" * 20}]),
    (PREPARE, [{"validator_index": "99999", "fee_recipient": "0x" + "11" * 20}]),
]


@pytest.mark.parametrize(("route", "body"), ACCEPTED_POSTS)
def test_validator_post_accepted(client: httpx.Client, route: str, body: object) -> None:
    response = client.post(route, json=body)
    assert response.status_code == 200, response.text
    validate(route, "POST", 200, None)


REJECTED_POSTS = [
    (SUBSCRIPTIONS, {"validator_index": "1"}, "array"),
    (
        SUBSCRIPTIONS,
        [{"validator_index": "1", "committee_index": "0", "committees_at_slot": "2", "slot": "27"}],
        "is_aggregator",
    ),
    (
        SUBSCRIPTIONS,
        [
            {
                "validator_index": "1",
                "committee_index": "3",
                "committees_at_slot": "2",
                "slot": "27",
                "is_aggregator": False,
            }
        ],
        "committee_index 3",
    ),
    (
        SUBSCRIPTIONS,
        [
            {
                "validator_index": "x",
                "committee_index": "0",
                "committees_at_slot": "2",
                "slot": "27",
                "is_aggregator": False,
            }
        ],
        "validator_index",
    ),
    (
        SYNC_SUBSCRIPTIONS,
        [{"validator_index": "1", "sync_committee_indices": "0", "until_epoch": "8"}],
        "sync_committee_indices",
    ),
    (PREPARE, [{"validator_index": "1", "fee_recipient": "0x11"}], "fee_recipient"),
    (PREPARE, [{"fee_recipient": "0x" + "11" * 20}], "validator_index"),
    (LIVENESS.format(epoch=3), ["1", "-2"], "index 1"),
    (LIVENESS.format(epoch=99), ["1"], "epoch 99"),
]


@pytest.mark.parametrize(("route", "body", "text"), REJECTED_POSTS)
def test_validator_post_rejected(client: httpx.Client, route: str, body: object, text: str) -> None:
    response = client.post(route, json=body)
    assert response.status_code == 400, response.text
    assert text in response.json()["message"]
    template = LIVENESS if route.startswith("/eth/v1/validator/liveness") else route
    validate(template, "POST", 400, response.json())


def test_liveness_from_participation(client: httpx.Client, chain: DevChain) -> None:
    epoch = chain.head()[1] // chain.spec.SLOTS_PER_EPOCH
    response = client.post(f"/eth/v1/validator/liveness/{epoch - 1}", json=["0", "1", "63"])
    assert response.status_code == 200, response.text
    validate(LIVENESS, "POST", 200, response.json())
    # Every validator of the test chain attests in every slot with a block.
    assert [item["is_live"] for item in response.json()["data"]] == [True, True, True]
    old = client.post("/eth/v1/validator/liveness/0", json=["0"])
    assert old.json()["data"] == [{"index": "0", "is_live": False}]


# Sync committee messages.

SYNC_MESSAGES = "/eth/v1/beacon/pool/sync_committees"


def _sync_message(chain: DevChain, validator_index: int, secret: int) -> dict:
    from caplin.config.constants import DOMAIN_SYNC_COMMITTEE
    from caplin.transition import helpers as h

    head_root, head_slot = chain.head()
    state = chain.post_states[head_root]
    epoch = h.compute_epoch_at_slot(chain.spec, head_slot)
    domain = h.get_domain(chain.spec, state, DOMAIN_SYNC_COMMITTEE, epoch)
    signature = bls.Sign(secret, h.compute_signing_root(chain.spec, head_root, domain))
    return {
        "slot": str(head_slot),
        "beacon_block_root": "0x" + head_root.hex(),
        "validator_index": str(validator_index),
        "signature": "0x" + signature.hex(),
    }


def test_sync_committee_message_accepted(writable: tuple[DevChain, httpx.Client]) -> None:
    from beacon_api_chain import secret_key

    chain, client = writable
    state = chain.post_states[chain.head()[0]]
    member = next(
        index
        for index in range(64)
        if bytes(state.validators[index].pubkey)
        in [bytes(key) for key in state.current_sync_committee.pubkeys]
    )
    response = client.post(SYNC_MESSAGES, json=[_sync_message(chain, member, secret_key(member))])
    assert response.status_code == 200, response.text
    validate(SYNC_MESSAGES, "POST", 200, None)
    assert int(chain.sync_messages[-1].validator_index) == member


def test_sync_committee_message_bad_signature(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    response = client.post(SYNC_MESSAGES, json=[_sync_message(chain, 1, 999)])
    assert response.status_code == 400, response.text
    assert response.json()["failures"][0]["index"] == 0
    validate(SYNC_MESSAGES, "POST", 400, response.json())


# Equivocation checks and distributed validator selections.


def test_equivocating_block_rejected(writable: tuple[DevChain, httpx.Client]) -> None:
    chain, client = writable
    slot = chain.head()[1] + 1
    first = chain.make_block(slot)
    second = chain.make_block(slot, graffiti=b"other".ljust(32, b"\x00"))
    headers = {"eth-consensus-version": "fulu"}

    def publish(block: object, validation: str) -> httpx.Response:
        body = {"signed_block": to_json(block), "kzg_proofs": [], "blobs": []}
        return client.post(
            f"/eth/v2/beacon/blocks?broadcast_validation={validation}", json=body, headers=headers
        )

    assert publish(first, "consensus_and_equivocation").status_code == 200
    rejected = publish(second, "consensus_and_equivocation")
    assert rejected.status_code == 400, rejected.text
    assert "equivocation" in rejected.json()["message"]
    validate("/eth/v2/beacon/blocks", "POST", 400, rejected.json())
    # Without the equivocation check the second block is a valid fork.
    assert publish(second, "consensus").status_code == 200


@pytest.mark.parametrize(
    "route",
    [
        "/eth/v1/validator/beacon_committee_selections",
        "/eth/v1/validator/sync_committee_selections",
    ],
)
def test_selections_not_implemented(client: httpx.Client, route: str) -> None:
    response = client.post(route, json=[])
    assert response.status_code == 501
    validate(route, "POST", 501, response.json())
