"""Run the block benchmark (bench/block.py) at a tiny registry size so that it keeps working."""

import importlib.util
from pathlib import Path

import pytest

from caplin.config import ChainSpec
from caplin.errors import BlockProcessingError
from caplin.transition.state_transition import state_transition

BENCH = Path(__file__).resolve().parents[2] / "bench" / "block.py"


@pytest.fixture(scope="module")
def bench():
    module_spec = importlib.util.spec_from_file_location("caplin_bench_block", BENCH)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spec():
    return ChainSpec.for_preset("mainnet")


@pytest.fixture(scope="module")
def scenario(bench, spec):
    return bench.build_scenario(spec, 1024)


def test_block_is_full(spec, scenario):
    body = scenario.signed_block.message.body
    assert len(body.attestations) == spec.MAX_ATTESTATIONS_ELECTRA
    assert all(body.sync_aggregate.sync_committee_bits)
    assert scenario.attesters == sum(len(a.aggregation_bits) for a in body.attestations)
    assert len(body.execution_payload.withdrawals) > 0


def test_block_passes_state_transition(spec, scenario):
    post = state_transition(spec, scenario.pre, scenario.signed_block)
    assert bytes(post.hash_tree_root()) == scenario.post_block_root


def test_timed_runs_reach_expected_roots(bench, spec, scenario):
    slots_time, slots_root_time, slotted = bench.time_slots(spec, scenario)
    assert slots_time > 0
    assert slots_root_time >= 0
    for verify in (True, False):
        work, root = bench.time_block(spec, scenario, slotted, verify=verify)
        assert work > 0
        assert root >= 0


def test_bad_aggregate_signature_is_rejected(spec, scenario):
    signed_block = scenario.signed_block.copy()
    attestations = signed_block.message.body.attestations
    attestations[0].signature = attestations[1].signature
    with pytest.raises(BlockProcessingError, match="signature"):
        state_transition(spec, scenario.pre, signed_block, validate_result=False)
