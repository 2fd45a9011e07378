"""Spec helpers against the executable spec, and cache freshness after mutations."""

import pytest
from test_core_support import MINIMAL, make_state, reference, to_reference

from caplin.config.constants import UINT64_MAX
from caplin.config.forks import Fork
from caplin.transition import caches
from caplin.transition import helpers as h

spec = MINIMAL
FORKS = [Fork.PHASE0, Fork.ALTAIR, Fork.ELECTRA, Fork.FULU]


@pytest.mark.parametrize("fork", FORKS, ids=lambda fork: fork.lower)
def test_committees_match_reference(fork: Fork) -> None:
    state = make_state(fork, count=96)
    ref = reference(fork)
    ref_state = to_reference(fork, state)
    epoch = h.get_current_epoch(spec, state)
    count = h.get_committee_count_per_slot(spec, state, epoch)
    assert count == ref.get_committee_count_per_slot(ref_state, ref.Epoch(epoch))
    for slot in range(epoch * spec.SLOTS_PER_EPOCH, (epoch + 1) * spec.SLOTS_PER_EPOCH):
        for index in range(count):
            expected = ref.get_beacon_committee(
                ref_state, ref.Slot(slot), ref.CommitteeIndex(index)
            )
            assert h.get_beacon_committee(spec, state, slot, index) == [int(i) for i in expected]


@pytest.mark.parametrize("fork", FORKS, ids=lambda fork: fork.lower)
def test_proposers_match_reference(fork: Fork) -> None:
    state = make_state(fork, count=80)
    ref = reference(fork)
    if fork >= Fork.FULU:
        ref_state = to_reference(fork, state)
        expected = ref.initialize_proposer_lookahead(ref_state)
        assert h.initialize_proposer_lookahead(spec, state) == [int(i) for i in expected]
        return
    for offset in range(spec.SLOTS_PER_EPOCH):
        state.slot = 3 * spec.SLOTS_PER_EPOCH + offset
        ref_state = to_reference(fork, state)
        assert h.get_beacon_proposer_index(spec, state) == ref.get_beacon_proposer_index(ref_state)


@pytest.mark.parametrize("fork", [Fork.ALTAIR, Fork.ELECTRA], ids=lambda fork: fork.lower)
def test_sync_committee_matches_reference(fork: Fork) -> None:
    state = make_state(fork, count=64)
    ref = reference(fork)
    ref_state = to_reference(fork, state)
    expected = [int(i) for i in ref.get_next_sync_committee_indices(ref_state)]
    assert h.get_next_sync_committee_indices(spec, state) == expected
    committee = h.get_next_sync_committee(spec, state)
    assert committee.hash_tree_root() == ref.hash_tree_root(ref.get_next_sync_committee(ref_state))


def test_proposer_cache_follows_balance_change() -> None:
    state = make_state(Fork.ALTAIR, count=64)
    ref = reference(Fork.ALTAIR)
    before = h.get_beacon_proposer_index(spec, state)
    state.validators[before].effective_balance = 0
    after = h.get_beacon_proposer_index(spec, state)
    assert after != before
    assert after == ref.get_beacon_proposer_index(to_reference(Fork.ALTAIR, state))


def test_active_indices_follow_exit() -> None:
    state = make_state(Fork.PHASE0, count=64)
    epoch = h.get_current_epoch(spec, state)
    assert 5 in h.get_active_validator_indices(spec, state, epoch)
    state.validators[5].exit_epoch = epoch
    assert 5 not in h.get_active_validator_indices(spec, state, epoch)
    assert h.get_total_active_balance(spec, state) == h.get_total_balance(
        spec, state, h.get_active_validator_indices(spec, state, epoch)
    )


def test_caches_clear_all_empties() -> None:
    state = make_state(Fork.PHASE0, count=64)
    h.get_beacon_proposer_index(spec, state)
    caches.clear_all()
    assert all(len(cache) == 0 for cache in caches.ALL_CACHES)


@pytest.mark.parametrize("fork", [Fork.PHASE0, Fork.ALTAIR, Fork.BELLATRIX, Fork.ELECTRA])
def test_slash_validator_matches_reference(fork: Fork) -> None:
    state = make_state(fork, count=64)
    ref = reference(fork)
    ref_state = to_reference(fork, state)
    h.slash_validator(spec, state, 7, 9)
    ref.slash_validator(ref_state, ref.ValidatorIndex(7), ref.ValidatorIndex(9))
    assert state.hash_tree_root() == ref.hash_tree_root(ref_state)


@pytest.mark.parametrize("fork", [Fork.PHASE0, Fork.ELECTRA], ids=lambda fork: fork.lower)
def test_exits_match_reference(fork: Fork) -> None:
    state = make_state(fork, count=64)
    ref = reference(fork)
    ref_state = to_reference(fork, state)
    for index in range(0, 40, 3):
        h.initiate_validator_exit(spec, state, index)
        ref.initiate_validator_exit(ref_state, ref.ValidatorIndex(index))
    assert state.hash_tree_root() == ref.hash_tree_root(ref_state)


def test_switch_to_compounding_queues_excess() -> None:
    state = make_state(Fork.ELECTRA, count=64)
    state.balances[4] = 40 * 10**9
    h.switch_to_compounding_validator(spec, state, 4)
    assert bytes(state.validators[4].withdrawal_credentials)[:1] == b"\x02"
    assert int(state.balances[4]) == spec.MIN_ACTIVATION_BALANCE
    assert len(state.pending_deposits) == 1
    assert int(state.pending_deposits[0].amount) == 8 * 10**9


def test_shuffled_permutation_matches_single_index() -> None:
    seed = bytes(range(32))
    for count in (1, 2, 7, 255, 256, 257, 1000):
        permutation = h.compute_shuffled_permutation(spec, count, seed)
        singles = [h.compute_shuffled_index(spec, i, count, seed) for i in range(count)]
        assert permutation == singles


def test_compute_shuffled_index_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        h.compute_shuffled_index(spec, 5, 5, b"\x00" * 32)


def test_integer_math_edges() -> None:
    assert h.integer_squareroot(0) == 0
    assert h.integer_squareroot(15) == 3
    assert h.integer_squareroot(16) == 4
    assert h.integer_squareroot(UINT64_MAX) == 2**32 - 1
    assert h.floorlog2(1) == 0
    assert h.floorlog2(1023) == 9
    assert h.ceillog2(1) == 0
    assert h.ceillog2(1025) == 11
    assert h.saturating_sub(3, 5) == 0
    assert h.add_flag(0, 2) == 4
    assert h.has_flag(4, 2)
    assert not h.has_flag(4, 1)


def test_domain_and_fork_digest_match_reference() -> None:
    ref = reference(Fork.FULU)
    root = bytes(range(32))
    version = spec.GENESIS_FORK_VERSION
    expected = ref.compute_domain(ref.DOMAIN_BEACON_ATTESTER, ref.Version(version), ref.Root(root))
    assert h.compute_domain(spec, b"\x01\x00\x00\x00", version, root) == bytes(expected)
    assert h.compute_fork_digest(spec, root, 0) == bytes(ref.compute_fork_digest(ref.Root(root), 0))


def test_block_root_at_slot_rejects_future_slot() -> None:
    from caplin.errors import BlockProcessingError

    state = make_state(Fork.PHASE0)
    with pytest.raises(BlockProcessingError):
        h.get_block_root_at_slot(spec, state, int(state.slot))


def test_validator_table_tracks_mutations() -> None:
    from caplin.transition.helpers.registry import clear_tables

    state = make_state(Fork.ELECTRA, count=300)
    first = h.validator_table(state)
    state.validators[7].effective_balance = 1
    state.validators[299].slashed = True
    state.validators.append(state.validators[3])
    patched = h.validator_table(state)
    clear_tables()
    fresh = h.validator_table(state)
    assert len(first) == 300
    assert len(patched) == 301
    assert patched.records.tobytes() == fresh.records.tobytes()
    assert patched.records.tobytes() == state.validators.encode_bytes()
    assert int(patched.effective_balance[7]) == 1
    assert bool(patched.slashed[299])
    assert patched.pubkey(300) == patched.pubkey(3)


def test_validator_table_reads_decoded_state() -> None:
    state = make_state(Fork.DENEB, count=70)
    decoded = type(state).decode_bytes(state.encode_bytes())
    table = h.validator_table(decoded)
    assert table.records.tobytes() == state.validators.encode_bytes()
    assert table.raw.shape == (70, 121)


def test_large_registry_proposer_matches_single_index_loop() -> None:
    from caplin.crypto.hash import sha256
    from caplin.shuffling import compute_shuffled_index as shuffled_index

    seed = bytes(range(32))
    total = 20_000
    indices = tuple(range(total))
    balances = [(16 + i % 17) * 10**9 for i in range(total)]
    chosen = h.sample_by_effective_balance(spec, indices, seed, balances, True, 3)

    expected = []
    i = 0
    while len(expected) < 3:
        candidate = shuffled_index(i % total, total, seed, spec.SHUFFLE_ROUND_COUNT)
        digest = sha256(seed + h.uint_to_bytes(i // 16))
        random_value = int.from_bytes(digest[i % 16 * 2 : i % 16 * 2 + 2], "little")
        if balances[candidate] * (2**16 - 1) >= spec.MAX_EFFECTIVE_BALANCE_ELECTRA * random_value:
            expected.append(candidate)
        i += 1
    assert chosen == expected


def test_weak_subjectivity_period_matches_reference() -> None:
    state = make_state(Fork.ELECTRA, count=128)
    ref = reference(Fork.ELECTRA)
    expected = ref.compute_weak_subjectivity_period(to_reference(Fork.ELECTRA, state))
    assert h.compute_weak_subjectivity_period(spec, state) == int(expected)


def test_weak_subjectivity_period_phase0() -> None:
    # The executable spec's phase0 version fails on its own typed integers, so the value is
    # worked out here: 128 validators of 32 ETH, churn 4, top-ups 16 * 8 per epoch give
    # 128 * (32 * 320 - 32 * 230) // (600 * 4 * 96) = 1 epoch for set churn, 0 for top-ups.
    state = make_state(Fork.PHASE0, count=128)
    for index in range(128):
        state.validators[index].effective_balance = 32 * 10**9
    period = h.compute_weak_subjectivity_period(spec, state)
    assert period == spec.MIN_VALIDATOR_WITHDRAWABILITY_DELAY + 1


def test_weak_subjectivity_checks_checkpoint() -> None:
    from caplin.errors import CaplinError

    state = make_state(Fork.ELECTRA, count=64)
    types = spec.types(Fork.ELECTRA)
    epoch = h.get_current_epoch(spec, state)
    header = state.latest_block_header.copy()
    header.state_root = state.hash_tree_root()
    checkpoint = types.Checkpoint(epoch=epoch, root=header.hash_tree_root())
    period = h.compute_weak_subjectivity_period(spec, state)
    last_safe_slot = (epoch + period) * spec.SLOTS_PER_EPOCH
    assert h.is_within_weak_subjectivity_period(spec, last_safe_slot, state, checkpoint)
    late_slot = last_safe_slot + spec.SLOTS_PER_EPOCH
    assert not h.is_within_weak_subjectivity_period(spec, late_slot, state, checkpoint)
    wrong = types.Checkpoint(epoch=epoch, root=b"\x05" * 32)
    with pytest.raises(CaplinError):
        h.is_within_weak_subjectivity_period(spec, last_safe_slot, state, wrong)


def test_committee_assignment_matches_reference() -> None:
    state = make_state(Fork.ALTAIR, count=96)
    ref = reference(Fork.ALTAIR)
    ref_state = to_reference(Fork.ALTAIR, state)
    epoch = h.get_current_epoch(spec, state) + 1
    for validator_index in (0, 17, 95):
        committee, index, slot = h.get_committee_assignment(spec, state, epoch, validator_index)
        expected = ref.get_committee_assignment(
            ref_state, ref.Epoch(epoch), ref.ValidatorIndex(validator_index)
        )
        assert committee == [int(i) for i in expected[0]]
        assert index == int(expected[1])
        assert slot == int(expected[2])
    assert h.get_committee_assignment(spec, state, epoch, 500) is None
    with pytest.raises(ValueError):
        h.get_committee_assignment(spec, state, epoch + 1, 0)


def test_balance_changes_match_single_calls() -> None:
    import random

    rng = random.Random(7)
    state = make_state(Fork.ALTAIR, count=64)
    state.balances[5] = 3
    expected = state.copy()
    changes = h.BalanceChanges(spec, state)
    operations = [(5, -10), (5, 4)] + [
        (rng.randrange(6, 64), rng.randrange(-(10**10), 10**10)) for _ in range(300)
    ]
    for index, delta in operations:
        if delta >= 0:
            changes.increase(index, delta)
            h.increase_balance(spec, expected, index, delta)
        else:
            changes.decrease(index, -delta)
            h.decrease_balance(spec, expected, index, -delta)
    assert changes.balance(5) == int(expected.balances[5])
    changes.write()
    assert state.balances.hash_tree_root() == expected.balances.hash_tree_root()
    assert state.hash_tree_root() == expected.hash_tree_root()
    # Clamped at zero by the first decrease, then increased: the spec's order of effects.
    assert int(state.balances[5]) == 4


def test_balance_changes_reject_overflow() -> None:
    state = make_state(Fork.ALTAIR, count=8)
    root = state.hash_tree_root()
    changes = h.BalanceChanges(spec, state)
    changes.increase(2, UINT64_MAX)
    with pytest.raises(ValueError):
        changes.write()
    assert state.hash_tree_root() == root


def test_balance_changes_reject_unknown_index() -> None:
    state = make_state(Fork.ALTAIR, count=8)
    changes = h.BalanceChanges(spec, state)
    with pytest.raises(IndexError):
        changes.increase(8, 1)
    changes.increase(7, 1)
    changes.write()
    changes.increase(7, 1)
    changes.write()
    assert int(state.balances[7]) == (32 - 7 % 3) * 10**9 + 7 + 2


def test_compute_committee_matches_beacon_committee() -> None:
    from caplin.config.constants import DOMAIN_BEACON_ATTESTER

    state = make_state(Fork.PHASE0, count=96)
    epoch = h.get_current_epoch(spec, state)
    indices = h.get_active_validator_indices(spec, state, epoch)
    seed = h.get_seed(spec, state, epoch, DOMAIN_BEACON_ATTESTER)
    per_slot = h.get_committee_count_per_slot(spec, state, epoch)
    count = per_slot * spec.SLOTS_PER_EPOCH
    start_slot = epoch * spec.SLOTS_PER_EPOCH
    for position in range(count):
        slot, index = start_slot + position // per_slot, position % per_slot
        expected = h.get_beacon_committee(spec, state, slot, index)
        assert h.compute_committee(spec, indices, seed, position, count) == expected
