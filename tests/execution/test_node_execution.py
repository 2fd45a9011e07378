"""The node's adapter: a range-synced batch of beacon blocks runs its payloads in one batch."""

from execution_testkit import genesis

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.node.execution import NodeExecution, block_new_payload
from execution.engine import EmbeddedEngine
from execution.payload import execution_requests_to_ssz, payload_to_ssz


def beacon_block(spec, request, fork=Fork.ELECTRA):
    types = spec.types(fork)
    signed = types.SignedBeaconBlock()
    signed.message.parent_root = request.parent_beacon_block_root
    signed.message.body.execution_payload = payload_to_ssz(request.payload, types.ExecutionPayload)
    signed.message.body.execution_requests = execution_requests_to_ssz(
        request.execution_requests, types.ExecutionRequests
    )
    return signed


def test_block_payload_matches_the_built_request(chain):
    spec = ChainSpec.for_preset("minimal")
    for built in chain.built:
        converted = block_new_payload(spec, beacon_block(spec, built.request))
        assert converted.payload == built.request.payload
        assert converted.parent_beacon_block_root == built.request.parent_beacon_block_root
        assert converted.execution_requests == built.request.execution_requests
        assert converted.versioned_hashes == ()


def test_execute_blocks_runs_the_batch_once(chain):
    spec = ChainSpec.for_preset("minimal")
    engine = EmbeddedEngine.in_memory(genesis())
    execution = NodeExecution(engine)
    blocks = [beacon_block(spec, b.request) for b in chain.built]
    assert execution.execute_blocks(spec, blocks) == len(blocks)
    for built in chain.built:
        assert engine.has_state(built.request.payload.block_hash)
    assert engine.head().block_number == 0  # fork choice moves the head
    # A block whose payload was tampered with stops the batch without raising.
    tampered = beacon_block(spec, chain.built[0].request)
    tampered.message.body.execution_payload.gas_used = 1
    assert execution.execute_blocks(spec, [tampered]) == 0


def test_blocks_before_electra_are_left_out(chain):
    spec = ChainSpec.for_preset("minimal")
    types = spec.types(Fork.DENEB)
    assert block_new_payload(spec, types.SignedBeaconBlock()) is None
    assert (
        NodeExecution(EmbeddedEngine.in_memory(genesis())).execute_blocks(
            spec, [types.SignedBeaconBlock()]
        )
        == 0
    )
