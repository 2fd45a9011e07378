"""Conversion between the consensus SSZ containers and the engine's payloads."""

import pytest
from execution_testkit import genesis

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from execution.engine import EmbeddedEngine
from execution.errors import UnsupportedForkError
from execution.payload import (
    execution_requests_from_ssz,
    execution_requests_to_ssz,
    from_ssz_request,
    payload_from_ssz,
    payload_to_ssz,
)
from execution.storage import MemoryBackend


@pytest.fixture(scope="module")
def types():
    return ChainSpec.for_preset("minimal").types(Fork.ELECTRA)


def to_ssz_request(types, request):
    return types.NewPayloadRequest(
        execution_payload=payload_to_ssz(request.payload, types.ExecutionPayload),
        versioned_hashes=list(request.versioned_hashes),
        parent_beacon_block_root=request.parent_beacon_block_root,
        execution_requests=execution_requests_to_ssz(
            request.execution_requests, types.ExecutionRequests
        ),
    )


def test_payload_round_trips_through_ssz(chain, types):
    payload = chain.built[1].request.payload
    assert payload_from_ssz(payload_to_ssz(payload, types.ExecutionPayload)) == payload


def test_requests_round_trip_through_ssz(chain, types):
    requests = chain.built[1].request.execution_requests
    ssz_requests = execution_requests_to_ssz(requests, types.ExecutionRequests)
    assert len(ssz_requests.deposits) == 1
    assert len(ssz_requests.withdrawals) == 1
    assert int(ssz_requests.deposits[0].amount) == 32 * 10**9
    assert execution_requests_from_ssz(ssz_requests) == requests


def test_requests_out_of_order_rejected(chain, types):
    requests = chain.built[1].request.execution_requests
    with pytest.raises(ValueError):
        execution_requests_to_ssz(tuple(reversed(requests)), types.ExecutionRequests)


def test_engine_accepts_ssz_new_payload_requests(chain, types):
    engine = EmbeddedEngine(MemoryBackend(), genesis())
    ssz_requests = [to_ssz_request(types, b.request) for b in chain.built]
    assert from_ssz_request(ssz_requests[1]).execution_requests == (
        chain.built[1].request.execution_requests
    )
    for ssz_request in ssz_requests:
        assert engine.verify_and_notify_new_payload(ssz_request) is True
    result = engine.execute_batch(ssz_requests)  # already executed blocks are skipped
    assert result.head_hash == chain.built[-1].request.payload.block_hash


def test_deneb_request_is_unsupported(chain):
    deneb = ChainSpec.for_preset("minimal").types(Fork.DENEB)
    payload = chain.built[0].request.payload
    request = deneb.NewPayloadRequest(
        execution_payload=payload_to_ssz(payload, deneb.ExecutionPayload),
        parent_beacon_block_root=b"\x01" * 32,
    )
    with pytest.raises(UnsupportedForkError):
        from_ssz_request(request)


def test_genesis_payload_matches_genesis_block():
    engine = EmbeddedEngine(MemoryBackend(), genesis())
    payload = engine.genesis_payload()
    assert payload.block_hash == engine.genesis_hash
    assert payload.block_number == 0
    assert payload.state_root == engine.head().state_root
