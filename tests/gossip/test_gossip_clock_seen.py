"""Tests of the gossip clock windows and of seen-cache pruning."""

from sentinel.gossip import GossipClock, SeenCache
from sentinel.gossip.seen import is_non_strict_superset

CLOCK = GossipClock(
    genesis_time_ms=1_000, slot_duration_ms=6_000, slots_per_epoch=8, disparity_ms=500
)


def test_future_slot_allows_disparity() -> None:
    slot_start = CLOCK.slot_start_ms(2)
    assert not CLOCK.is_future_slot(2, slot_start - 500)
    assert CLOCK.is_future_slot(2, slot_start - 501)


def test_slot_range_is_inclusive_with_disparity() -> None:
    end_of_slot_3 = CLOCK.slot_start_ms(4)
    assert CLOCK.is_within_slot_range(2, 1, end_of_slot_3 + 500)
    assert not CLOCK.is_within_slot_range(2, 1, end_of_slot_3 + 501)
    assert CLOCK.is_current_slot(2, CLOCK.slot_start_ms(2))


def test_current_or_previous_epoch() -> None:
    epoch_2_start = CLOCK.slot_start_ms(16)
    assert CLOCK.is_current_or_previous_epoch(1, epoch_2_start + 1000)
    assert CLOCK.is_current_or_previous_epoch(2, epoch_2_start + 1000)
    assert not CLOCK.is_current_or_previous_epoch(0, epoch_2_start + 1000)
    # Within disparity of the epoch boundary the next epoch already counts.
    assert CLOCK.is_current_or_previous_epoch(2, epoch_2_start - 500)


def test_future_epoch() -> None:
    assert not CLOCK.is_future_epoch(1, CLOCK.slot_start_ms(8) - 500)
    assert CLOCK.is_future_epoch(1, CLOCK.slot_start_ms(8) - 501)
    assert not CLOCK.is_future_epoch(0, 0)


def test_superset_check() -> None:
    seen = {(True, True, False)}
    assert is_non_strict_superset(seen, (True, False, False))
    assert is_non_strict_superset(seen, (True, True, False))
    assert not is_non_strict_superset(seen, (False, False, True))
    assert not is_non_strict_superset(set(), (True,))


def test_prune_drops_old_slots_and_epochs() -> None:
    seen = SeenCache()
    seen.proposer_slots.update({(3, 1), (10, 2)})
    seen.attestation_validator_epochs.update({(0, 5), (2, 5)})
    seen.aggregate_data_roots[(0, b"\x01" * 32, 0)] = {(True,)}
    seen.aggregate_data_roots[(2, b"\x02" * 32, 0)] = {(True,)}
    seen.voluntary_exit_indices.add(7)

    seen.sync_message_validator_slots.update({(4, 1, 0), (9, 1, 0)})
    seen.prune(finalized_slot=8, oldest_slot=9, oldest_epoch=1)

    assert seen.proposer_slots == {(10, 2)}
    assert seen.attestation_validator_epochs == {(2, 5)}
    assert list(seen.aggregate_data_roots) == [(2, b"\x02" * 32, 0)]
    assert seen.sync_message_validator_slots == {(9, 1, 0)}
    assert seen.voluntary_exit_indices == {7}


def test_lru_cache_keeps_recent_entries() -> None:
    from sentinel.gossip.context import _LruCache

    cache = _LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None
    assert cache.get("a") == 1
    assert cache.get("c") == 3
    assert len(cache) == 2
