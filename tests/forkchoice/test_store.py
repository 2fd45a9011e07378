"""Store behaviour on real blocks: rejections leave the store unchanged, queues, payload status.

The blocks and attestation come from the capella spec-test case
`get_head/shorter_chain_but_heavier_weight`: a chain of three blocks (slots 1 to
3), a competing block at slot 1, and one attestation at slot 1 for that
competing block.
"""

import os
from pathlib import Path
from typing import Any

import pytest

from caplin.config.forks import Fork
from forkchoice import (
    AttestationNotReadyError,
    BlockNotReadyError,
    InvalidBlockError,
    Store,
)
from spec_tests.source import iter_cases

SPEC_TESTS = Path(
    os.environ.get("CAPLIN_SPEC_TESTS", Path(__file__).parents[3] / "shared" / "spec-tests")
)
ARCHIVE = SPEC_TESTS / "minimal-capella.tar.gz"
CASE_KEY = (
    "minimal", "capella", "fork_choice", "get_head", "pyspec_tests",
    "shorter_chain_but_heavier_weight",
)
MAIN_CHAIN = [
    "block_0xfbd9eec253fc523aa5fd78ccf95312656c2ad238b2f025518106f8d3fb2e2d22",
    "block_0x0435d88e679f5f14b7e11e0fb0a18b883acefa5fc82b8a314f8cc9cf732cff32",
    "block_0xaa2a7d798507a69c974f789b8a0d4936f410f27e6ed66354db3302d962494509",
]
FORK_BLOCK = "block_0xdadfe14237fb85ccb6f279b36d61be5a1e00f43015e666ab4d7998f35a229d5a"
ATTESTATION = "attestation_0xc01e7249ff16276d1864d4be8e3292a371af9d2689c30e23cdd80fee2d16db38"

pytestmark = pytest.mark.skipif(not ARCHIVE.exists(), reason=f"no archive {ARCHIVE}")


class Fixture:
    def __init__(self, case: Any) -> None:
        self.case = case
        self.spec = case.spec
        self.types = self.spec.types(Fork.CAPELLA)

    def store(self) -> Store:
        state = self.types.BeaconState.decode_bytes(self.case.ssz("anchor_state"))
        block = self.types.BeaconBlock.decode_bytes(self.case.ssz("anchor_block"))
        return Store(self.spec, state, block)

    def block(self, name: str) -> Any:
        return self.types.SignedBeaconBlock.decode_bytes(self.case.ssz(name))

    def attestation(self) -> Any:
        return self.types.Attestation.decode_bytes(self.case.ssz(ATTESTATION))

    def root(self, name: str) -> bytes:
        return bytes.fromhex(name.split("_0x")[1])


@pytest.fixture(scope="module")
def fixture() -> Fixture:
    case = next(iter_cases(ARCHIVE, lambda key: key == CASE_KEY))
    return Fixture(case)


def tick_to_slot(store: Store, slot: int) -> None:
    store.on_tick(store.genesis_time_ms + slot * store.spec.SLOT_DURATION_MS)


def snapshot(store: Store) -> tuple:
    return (
        dict(store.blocks),
        store.get_head(),
        store.justified_checkpoint,
        store.finalized_checkpoint,
        store.proposer_boost_root,
        len(store.proto),
        store.votes.apply().tolist(),
    )


def test_future_block_is_not_ready(fixture: Fixture) -> None:
    store = fixture.store()
    block = fixture.block(MAIN_CHAIN[0])
    with pytest.raises(BlockNotReadyError) as raised:
        store.on_block(block)
    assert raised.value.rule == "future_slot"
    tick_to_slot(store, 1)
    assert store.on_block(block) == fixture.root(MAIN_CHAIN[0])
    assert store.get_head() == fixture.root(MAIN_CHAIN[0])


def test_unknown_parent_is_not_ready(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 2)
    before = snapshot(store)
    with pytest.raises(BlockNotReadyError) as raised:
        store.on_block(fixture.block(MAIN_CHAIN[1]))
    assert raised.value.rule == "parent_known"
    assert snapshot(store) == before


def test_invalid_block_leaves_store_unchanged(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 2)
    store.on_block(fixture.block(MAIN_CHAIN[0]))
    bad = fixture.block(MAIN_CHAIN[1])
    bad.message.state_root = b"\x11" * 32
    before = snapshot(store)
    with pytest.raises(InvalidBlockError) as raised:
        store.on_block(bad)
    assert raised.value.rule == "state_transition"
    assert snapshot(store) == before


def test_known_block_is_accepted_again(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 1)
    block = fixture.block(MAIN_CHAIN[0])
    store.on_block(block)
    before = snapshot(store)
    assert store.on_block(block) == fixture.root(MAIN_CHAIN[0])
    assert snapshot(store) == before


def test_timely_block_gets_boost_until_next_slot(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 1)
    root = store.on_block(fixture.block(MAIN_CHAIN[0]))
    assert store.proposer_boost_root == root
    assert store.block_timeliness[root]
    tick_to_slot(store, 2)
    assert store.proposer_boost_root == b"\x00" * 32


def test_attestation_queued_until_its_slot_passes(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 1)
    store.on_block(fixture.block(MAIN_CHAIN[0]))
    store.on_block(fixture.block(FORK_BLOCK))
    attestation = fixture.attestation()
    with pytest.raises(AttestationNotReadyError) as raised:
        store.on_attestation(attestation)
    assert raised.value.rule == "slot_future"
    assert store.on_attestation(attestation, queue_future=True) is False
    assert len(store.queued_attestations) == 1

    tick_to_slot(store, 2)
    assert store.queued_attestations == []
    # Without the vote the tie would go to the higher root, the main-chain block.
    assert store.get_head() == fixture.root(FORK_BLOCK)
    assert store.get_attestation_score(fixture.root(FORK_BLOCK)) > 0
    assert store.get_attestation_score(fixture.root(MAIN_CHAIN[0])) == 0


def test_attestation_for_unknown_block_is_not_ready(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 3)
    with pytest.raises(AttestationNotReadyError) as raised:
        store.on_attestation(fixture.attestation())
    assert raised.value.rule in ("target_known", "block_known")


def test_heavier_fork_wins_over_longer_chain(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 3)
    for name in [*MAIN_CHAIN, FORK_BLOCK]:
        store.on_block(fixture.block(name))
    assert store.get_head() == fixture.root(MAIN_CHAIN[2])
    store.on_attestation(fixture.attestation())
    assert store.get_head() == fixture.root(FORK_BLOCK)
    latest = store.latest_message(next(iter(_attesters(store, fixture))))
    assert latest is not None
    assert latest.root == fixture.root(FORK_BLOCK)


def test_invalid_payload_moves_head_away(fixture: Fixture) -> None:
    store = fixture.store()
    tick_to_slot(store, 3)
    for name in MAIN_CHAIN:
        store.on_block(fixture.block(name), optimistic=True)
    store.on_block(fixture.block(FORK_BLOCK))
    tip = fixture.root(MAIN_CHAIN[2])
    assert store.is_optimistic(tip)
    assert store.get_head() == tip

    second = fixture.root(MAIN_CHAIN[1])
    first = store.blocks[second].parent_root
    first_hash = bytes(store.blocks[bytes(first)].body.execution_payload.block_hash)
    store.on_payload_invalid(second, first_hash)
    assert store.is_optimistic(bytes(first))
    assert not store.is_optimistic(tip)
    # The invalid branch is out; the tie at slot 1 goes to the higher root.
    assert store.get_head() == max(bytes(first), fixture.root(FORK_BLOCK))

    store.on_payload_valid(bytes(first))
    assert not store.is_optimistic(bytes(first))


def _attesters(store: Store, fixture: Fixture) -> set[int]:
    from caplin.transition.helpers import get_attesting_indices

    attestation = fixture.attestation()
    state = store.block_states[bytes(attestation.data.beacon_block_root)]
    return set(get_attesting_indices(store.spec, state, attestation))


def test_pruning_keeps_spec_answers() -> None:
    from spec_tests.runners.fork_choice import StepRunner

    key = (*CASE_KEY[:3], "on_block", "pyspec_tests", "justification_withholding")
    case = next(iter_cases(ARCHIVE, lambda candidate: candidate == key))
    runner = StepRunner(case, prune_threshold=1)
    runner.run()
    store = runner.store
    block_steps = sum(1 for step in case.yaml("steps") if "block" in step)
    assert store.finalized_checkpoint.epoch > 0
    assert len(store.proto) < block_steps + 1
    assert store.proto.roots[0] == store.finalized_checkpoint.root
    assert set(store.blocks) == set(store.proto.roots)


def test_late_weak_head_overrides_update(fixture: Fixture) -> None:
    from forkchoice.proposer import should_override_forkchoice_update

    store = fixture.store()
    for slot, name in enumerate(MAIN_CHAIN[:2], start=1):
        tick_to_slot(store, slot)
        store.on_block(fixture.block(name))
    # The slot 3 block arrives 4 s into its 6 s slot, after the attestation deadline.
    store.on_tick(store.genesis_time_ms + 3 * store.spec.SLOT_DURATION_MS + 4000)
    late = store.on_block(fixture.block(MAIN_CHAIN[2]))
    assert not store.block_timeliness[late]
    assert store.proposer_boost_root == b"\x00" * 32
    assert store.get_head() == late
    assert should_override_forkchoice_update(store, late)
    assert not should_override_forkchoice_update(store, late, lambda index: False)
    timely = fixture.root(MAIN_CHAIN[1])
    assert store.block_timeliness[timely]
    assert not should_override_forkchoice_update(store, timely)


def test_viable_leaves_are_both_tips(fixture: Fixture) -> None:
    from forkchoice.proposer import viable_leaves

    store = fixture.store()
    tick_to_slot(store, 3)
    for name in [*MAIN_CHAIN, FORK_BLOCK]:
        store.on_block(fixture.block(name))
    leaves = set(viable_leaves(store))
    assert leaves == {fixture.root(MAIN_CHAIN[2]), fixture.root(FORK_BLOCK)}
    boosted = store.get_weight(fixture.root(MAIN_CHAIN[2]))
    assert boosted == store.get_proposer_score()
    assert store.get_attestation_score(fixture.root(MAIN_CHAIN[2])) == 0
