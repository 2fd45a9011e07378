"""state_transition on a real block from the consensus spec tests."""

import os
from pathlib import Path

import pytest

from caplin.errors import BlockProcessingError
from caplin.transition.signatures import SignatureBatch
from caplin.transition.state_transition import state_transition
from caplin.types.ssz import decode
from spec_tests.case import Case
from spec_tests.source import iter_cases

SPEC_TESTS = Path(
    os.environ.get("CAPLIN_SPEC_TESTS", Path(__file__).parents[3] / "shared" / "spec-tests")
)
ARCHIVE = SPEC_TESTS / "minimal-altair.tar.gz"
CASE_KEY = ("minimal", "altair", "sanity", "blocks", "pyspec_tests", "empty_block_transition")


@pytest.fixture(scope="module")
def case() -> Case:
    if not ARCHIVE.exists():
        pytest.skip(f"no spec-test archive {ARCHIVE}")
    for found in iter_cases(ARCHIVE, lambda key: key == CASE_KEY):
        return found
    pytest.skip(f"{ARCHIVE} has no case {'/'.join(CASE_KEY)}")


def load(case: Case) -> tuple:
    types = case.spec.types(case.fork_enum)
    pre = decode(types.BeaconState, case.ssz("pre"))
    block = decode(types.SignedBeaconBlock, case.ssz("blocks_0"))
    post = decode(types.BeaconState, case.ssz("post"))
    return pre, block, post


def test_block_reaches_post_state(case: Case) -> None:
    pre, block, post = load(case)
    pre_root = pre.hash_tree_root()
    result = state_transition(case.spec, pre, block)
    assert result.hash_tree_root() == post.hash_tree_root()
    assert pre.hash_tree_root() == pre_root


def test_external_batch_defers_verification(case: Case) -> None:
    pre, block, post = load(case)
    sigs = SignatureBatch()
    result = state_transition(case.spec, pre, block, sigs=sigs)
    assert result.hash_tree_root() == post.hash_tree_root()
    # The proposer signature and the randao reveal, at least.
    assert len(sigs) >= 2
    sigs.verify()


def test_bad_proposer_signature_rejected(case: Case) -> None:
    pre, block, _ = load(case)
    block.signature = block.message.body.randao_reveal
    with pytest.raises(BlockProcessingError) as raised:
        state_transition(case.spec, pre, block)
    assert raised.value.rule == "signature"
    assert state_transition(case.spec, pre, block, verify_signatures=False) is not None


def test_wrong_state_root_rejected(case: Case) -> None:
    pre, block, _ = load(case)
    block.message.state_root = b"\x01" * 32
    with pytest.raises(BlockProcessingError) as raised:
        state_transition(case.spec, pre, block, verify_signatures=False)
    assert raised.value.rule == "state_root"
    state_transition(case.spec, pre, block, validate_result=False)
