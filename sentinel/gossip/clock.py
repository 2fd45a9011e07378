"""Time rules of gossip validation, in milliseconds since the Unix epoch.

Every rule allows `MAXIMUM_GOSSIP_CLOCK_DISPARITY` milliseconds of clock
difference between peers, on both ends of a time window.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GossipClock:
    """Slot timing of one chain, for judging when a message was received."""

    genesis_time_ms: int
    slot_duration_ms: int
    slots_per_epoch: int
    disparity_ms: int

    @classmethod
    def for_chain(cls, spec: Any, genesis_time: int) -> "GossipClock":
        """Build the clock of a chain whose genesis is `genesis_time` (seconds)."""
        return cls(
            genesis_time_ms=int(genesis_time) * 1000,
            slot_duration_ms=int(spec.SLOT_DURATION_MS),
            slots_per_epoch=int(spec.SLOTS_PER_EPOCH),
            disparity_ms=int(spec.MAXIMUM_GOSSIP_CLOCK_DISPARITY),
        )

    def slot_start_ms(self, slot: int) -> int:
        return self.genesis_time_ms + int(slot) * self.slot_duration_ms

    def slot_at(self, time_ms: int) -> int:
        """Return the slot that contains `time_ms` (0 before genesis)."""
        return max(int(time_ms) - self.genesis_time_ms, 0) // self.slot_duration_ms

    def is_future_slot(self, slot: int, now_ms: int) -> bool:
        """Tell whether `slot` has not started yet, even allowing for clock disparity."""
        return now_ms + self.disparity_ms < self.slot_start_ms(slot)

    def is_future_epoch(self, epoch: int, now_ms: int) -> bool:
        """Tell whether `epoch` has not started yet, even allowing for clock disparity."""
        current_slot = self.slot_at(now_ms + self.disparity_ms)
        return current_slot // self.slots_per_epoch < int(epoch)

    def is_within_slot_range(self, slot: int, slot_range: int, now_ms: int) -> bool:
        """Tell whether `now_ms` falls in slots `slot` to `slot + slot_range`, inclusive."""
        if now_ms + self.disparity_ms < self.slot_start_ms(slot):
            return False
        end_ms = self.slot_start_ms(int(slot) + int(slot_range) + 1)
        return not end_ms + self.disparity_ms < now_ms

    def is_current_slot(self, slot: int, now_ms: int) -> bool:
        return self.is_within_slot_range(slot, 0, now_ms)

    def is_within_epoch(self, epoch: int, now_ms: int) -> bool:
        start_slot = int(epoch) * self.slots_per_epoch
        return self.is_within_slot_range(start_slot, self.slots_per_epoch - 1, now_ms)

    def is_current_or_previous_epoch(self, epoch: int, now_ms: int) -> bool:
        """Tell whether `epoch` is the current or the previous epoch at `now_ms` (Deneb)."""
        return self.is_within_epoch(epoch, now_ms) or self.is_within_epoch(int(epoch) + 1, now_ms)
