"""The node-to-API event bus behind `/eth/v1/events` (server-sent events).

The node calls `EventBus.publish` with one of the event dataclasses below whenever the head
changes, a block is imported, an attestation is accepted, a checkpoint is finalized or the head
re-orgs. Each open event stream has one subscription with a bounded buffer. `publish` never
blocks: a subscriber whose buffer is full is closed (its stream ends and the client reconnects),
so a slow reader cannot stall block import or silently miss events.
"""

import logging
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import trio

log = logging.getLogger("beacon_api.events")

DEFAULT_BUFFER_SIZE = 1024


@dataclass(frozen=True)
class HeadEvent:
    """The fork-choice head changed. Roots are 32 bytes; dependent roots as the spec defines."""

    topic: ClassVar[str] = "head"
    slot: int
    block_root: bytes
    state_root: bytes
    epoch_transition: bool
    previous_duty_dependent_root: bytes
    current_duty_dependent_root: bytes
    execution_optimistic: bool = False


@dataclass(frozen=True)
class BlockEvent:
    """A block passed validation and was imported (it need not be the new head)."""

    topic: ClassVar[str] = "block"
    slot: int
    block_root: bytes
    execution_optimistic: bool = False


@dataclass(frozen=True)
class AttestationEvent:
    """An attestation (an `Attestation` SSZ value) passed gossip or API validation."""

    topic: ClassVar[str] = "attestation"
    attestation: Any


@dataclass(frozen=True)
class FinalizedCheckpointEvent:
    """Fork choice finalized a new checkpoint; `state_root` is the checkpoint block's state root."""

    topic: ClassVar[str] = "finalized_checkpoint"
    epoch: int
    block_root: bytes
    state_root: bytes
    execution_optimistic: bool = False


@dataclass(frozen=True)
class ChainReorgEvent:
    """The new head is not a descendant of the old one; `depth` counts the slots rolled back."""

    topic: ClassVar[str] = "chain_reorg"
    slot: int
    depth: int
    old_head_block: bytes
    new_head_block: bytes
    old_head_state: bytes
    new_head_state: bytes
    epoch: int
    execution_optimistic: bool = False


Event = HeadEvent | BlockEvent | AttestationEvent | FinalizedCheckpointEvent | ChainReorgEvent

TOPICS = frozenset(
    kind.topic
    for kind in (HeadEvent, BlockEvent, AttestationEvent, FinalizedCheckpointEvent, ChainReorgEvent)
)


class _Subscription:
    def __init__(self, topics: frozenset[str], buffer_size: int) -> None:
        self.topics = topics
        self.send, self.receive = trio.open_memory_channel[Event](buffer_size)


class EventBus:
    """Fan-out of node events to the open event streams.

    `publish` may be called from any thread. Outside the trio loop of the subscriptions it hands
    the event to that loop with `TrioToken.run_sync_soon`, which does not block either.
    """

    def __init__(self, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        self._buffer_size = buffer_size
        self._subscriptions: set[_Subscription] = set()
        self._token: trio.lowlevel.TrioToken | None = None
        self._loop_thread: int | None = None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: Event) -> None:
        """Deliver `event` to every subscription of its topic, without blocking."""
        if not self._subscriptions or self._token is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._deliver(event)
        else:
            try:
                self._token.run_sync_soon(self._deliver, event)
            except trio.RunFinishedError:
                pass

    @contextmanager
    def subscribe(self, topics: Collection[str]) -> Iterator[trio.MemoryReceiveChannel[Event]]:
        """Open a subscription to `topics` for the duration of the `with` block.

        Must be entered inside a trio run. The channel yields events in publication order and
        ends (`trio.EndOfChannel`) if this subscriber fell `buffer_size` events behind.

        Raises:
            ValueError: a topic is not one of `TOPICS`.
        """
        unknown = set(topics) - TOPICS
        if unknown:
            raise ValueError(f"unknown event topics: {', '.join(sorted(unknown))}")
        self._token = trio.lowlevel.current_trio_token()
        self._loop_thread = threading.get_ident()
        subscription = _Subscription(frozenset(topics), self._buffer_size)
        self._subscriptions.add(subscription)
        try:
            yield subscription.receive
        finally:
            self._subscriptions.discard(subscription)
            subscription.send.close()

    def _deliver(self, event: Event) -> None:
        for subscription in list(self._subscriptions):
            if event.topic not in subscription.topics:
                continue
            try:
                subscription.send.send_nowait(event)
            except trio.WouldBlock:
                log.warning("event stream too slow, closing it topic=%s", event.topic)
                self._subscriptions.discard(subscription)
                subscription.send.close()
            except trio.ClosedResourceError:
                self._subscriptions.discard(subscription)
