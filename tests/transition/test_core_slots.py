"""Slot processing, fork upgrades, state_transition failure handling and genesis."""

import pytest
from test_core_support import MINIMAL, make_state, reference, to_reference

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.errors import BlockProcessingError, SlotProcessingError, TransitionError
from caplin.transition.genesis import is_valid_genesis_state
from caplin.transition.slot import process_slot, process_slots
from caplin.transition.state_transition import state_transition
from caplin.transition.upgrade import UPGRADES, upgrade_to

spec = MINIMAL


def test_process_slot_caches_roots() -> None:
    state = make_state(Fork.ALTAIR)
    pre_root = state.hash_tree_root()
    slot_index = int(state.slot) % spec.SLOTS_PER_HISTORICAL_ROOT
    process_slot(spec, state)
    assert state.state_roots[slot_index] == pre_root
    assert state.latest_block_header.state_root == pre_root
    assert state.block_roots[slot_index] == state.latest_block_header.hash_tree_root()


def test_process_slots_within_epoch() -> None:
    state = make_state(Fork.PHASE0)
    start = int(state.slot)
    result = process_slots(spec, state, start + 3)
    assert result is state
    assert int(state.slot) == start + 3


def test_process_slots_rejects_past_slot() -> None:
    state = make_state(Fork.PHASE0)
    with pytest.raises(SlotProcessingError):
        process_slots(spec, state, int(state.slot))


@pytest.mark.parametrize("fork", list(Fork)[1:], ids=lambda fork: fork.lower)
def test_upgrade_matches_reference(fork: Fork) -> None:
    previous = fork.previous()
    assert previous is not None
    pre = make_state(previous, count=64)
    post = UPGRADES[fork](spec, pre)
    assert spec.fork_of(post) == fork
    ref = reference(fork)
    ref_upgrade = getattr(ref, f"upgrade_to_{fork.lower}")
    ref_pre = to_reference(previous, pre)
    expected = ref_upgrade(ref_pre)
    assert post.hash_tree_root() == ref.hash_tree_root(expected)
    assert int(post.fork.epoch) == 3
    assert bytes(post.fork.previous_version) == bytes(pre.fork.current_version)


def test_upgrade_to_walks_every_fork() -> None:
    state = make_state(Fork.PHASE0)
    post = upgrade_to(spec, state, Fork.FULU)
    assert spec.fork_of(post) == Fork.FULU
    assert len(post.proposer_lookahead) == (spec.MIN_SEED_LOOKAHEAD + 1) * spec.SLOTS_PER_EPOCH


def test_upgrade_to_rejects_older_fork() -> None:
    state = make_state(Fork.ALTAIR)
    with pytest.raises(TransitionError):
        upgrade_to(spec, state, Fork.PHASE0)


def test_process_slots_upgrades_at_fork_epoch() -> None:
    config = dict(spec.config, ALTAIR_FORK_EPOCH=0, BELLATRIX_FORK_EPOCH=4, CAPELLA_FORK_EPOCH=4)
    fork_spec = ChainSpec(spec.preset_name, spec.preset, config)
    state = make_state(Fork.ALTAIR, epoch=3, spec=fork_spec)
    last_altair_slot = 4 * fork_spec.SLOTS_PER_EPOCH - 1
    before = process_slots(fork_spec, state, last_altair_slot)
    assert fork_spec.fork_of(before) == Fork.ALTAIR

    after = process_slots(fork_spec, before, last_altair_slot + 1)
    assert fork_spec.fork_of(after) == Fork.CAPELLA
    assert int(after.slot) == last_altair_slot + 1
    assert int(after.fork.epoch) == 4
    assert bytes(after.fork.current_version) == fork_spec.fork_version(Fork.CAPELLA)
    assert bytes(after.fork.previous_version) == fork_spec.fork_version(Fork.BELLATRIX)


def test_process_slots_keeps_fork_without_config() -> None:
    state = make_state(Fork.ELECTRA, epoch=3)
    after = process_slots(spec, state, 5 * spec.SLOTS_PER_EPOCH)
    assert spec.fork_of(after) == Fork.ELECTRA


def test_state_transition_keeps_pre_state_on_error() -> None:
    state = make_state(Fork.ALTAIR)
    types = spec.types(Fork.ALTAIR)
    block = types.SignedBeaconBlock(message=types.BeaconBlock(slot=int(state.slot) + 1))
    pre_root = state.hash_tree_root()
    with pytest.raises(BlockProcessingError):
        state_transition(spec, state, block)
    assert state.hash_tree_root() == pre_root


def test_state_transition_rejects_old_block() -> None:
    state = make_state(Fork.ALTAIR)
    types = spec.types(Fork.ALTAIR)
    block = types.SignedBeaconBlock(message=types.BeaconBlock(slot=int(state.slot)))
    with pytest.raises(BlockProcessingError) as raised:
        state_transition(spec, state, block)
    assert raised.value.rule == "block_slot"


def test_genesis_validity_rules() -> None:
    state = make_state(Fork.PHASE0, count=spec.MIN_GENESIS_ACTIVE_VALIDATOR_COUNT, epoch=0)
    state.genesis_time = spec.MIN_GENESIS_TIME
    assert is_valid_genesis_state(spec, state)
    state.genesis_time = spec.MIN_GENESIS_TIME - 1
    assert not is_valid_genesis_state(spec, state)
    state.genesis_time = spec.MIN_GENESIS_TIME
    state.validators[0].activation_epoch = 1
    assert not is_valid_genesis_state(spec, state)
