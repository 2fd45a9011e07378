"""Peer bookkeeping: a target and maximum peer count, scores, bans and Goodbye reasons.

Scores start at 0 and drop with each `report`. A peer at or below
`BAN_THRESHOLD` is banned for `ban_seconds`. A peer at or below
`DISCONNECT_THRESHOLD` should be disconnected with Goodbye reason 250 (bad score).
Scores recover towards 0 by `DECAY_PER_SECOND` points per second.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sentinel.reqresp.protocols import GoodbyeReason

log = logging.getLogger("sentinel.peers")

DISCONNECT_THRESHOLD = -20.0
BAN_THRESHOLD = -50.0
DECAY_PER_SECOND = 0.1
MIN_SCORE = -100.0


@dataclass
class PeerRecord:
    """The state kept for one peer."""

    peer_id: str
    score: float = 0.0
    updated: float = field(default_factory=time.monotonic)
    connected: bool = False
    status: object | None = None
    metadata: object | None = None
    goodbye_reason: int | None = None


class PeerManager:
    """Tracks connected peers against `target_peers` and `max_peers`, with scores and bans."""

    def __init__(
        self,
        target_peers: int = 50,
        max_peers: int = 64,
        ban_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target_peers = target_peers
        self.max_peers = max_peers
        self.ban_seconds = ban_seconds
        self._clock = clock
        self._peers: dict[str, PeerRecord] = {}
        self._bans: dict[str, float] = {}

    def peer(self, peer_id: str) -> PeerRecord:
        """Return the record of `peer_id`, creating it on first sight."""
        record = self._peers.get(peer_id)
        if record is None:
            record = self._peers[peer_id] = PeerRecord(peer_id, updated=self._clock())
        return record

    @property
    def connected(self) -> list[str]:
        """Ids of the connected peers."""
        return [p.peer_id for p in self._peers.values() if p.connected]

    def needs_peers(self) -> bool:
        """Return True while fewer than `target_peers` peers are connected."""
        return len(self.connected) < self.target_peers

    def is_banned(self, peer_id: str) -> bool:
        """Return True while a ban on `peer_id` lasts."""
        until = self._bans.get(peer_id)
        if until is None:
            return False
        if self._clock() >= until:
            del self._bans[peer_id]
            return False
        return True

    def accept(self, peer_id: str) -> int | None:
        """Return None to accept a new connection, or the Goodbye reason to reject it with."""
        if self.is_banned(peer_id):
            return GoodbyeReason.BANNED
        if peer_id not in self.connected and len(self.connected) >= self.max_peers:
            return GoodbyeReason.TOO_MANY_PEERS
        return None

    def on_connected(self, peer_id: str) -> None:
        """Mark a peer connected."""
        self.peer(peer_id).connected = True
        log.debug("peer connected peer=%s peers=%d", peer_id, len(self.connected))

    def on_disconnected(self, peer_id: str, reason: int | None = None) -> None:
        """Mark a peer disconnected; `reason` is the Goodbye code it sent, if any."""
        record = self.peer(peer_id)
        record.connected = False
        record.goodbye_reason = reason
        log.debug("peer disconnected peer=%s reason=%s", peer_id, reason)

    def score(self, peer_id: str) -> float:
        """Return the current score, after decay towards 0."""
        record = self.peer(peer_id)
        now = self._clock()
        if record.score < 0:
            record.score = min(0.0, record.score + (now - record.updated) * DECAY_PER_SECOND)
        record.updated = now
        return record.score

    def report(self, peer_id: str, penalty: float, reason: str) -> int | None:
        """Lower a peer's score; return the Goodbye reason if it must be disconnected."""
        score = max(MIN_SCORE, self.score(peer_id) - abs(penalty))
        self.peer(peer_id).score = score
        log.debug(
            "peer penalized peer=%s penalty=%s reason=%s score=%.1f",
            peer_id,
            penalty,
            reason,
            score,
        )
        if score <= BAN_THRESHOLD:
            self.ban(peer_id, reason)
            return GoodbyeReason.BANNED
        if score <= DISCONNECT_THRESHOLD:
            return GoodbyeReason.BAD_SCORE
        return None

    def ban(self, peer_id: str, reason: str) -> None:
        """Ban a peer for `ban_seconds`."""
        self._bans[peer_id] = self._clock() + self.ban_seconds
        log.info("peer banned peer=%s reason=%s seconds=%d", peer_id, reason, self.ban_seconds)

    def excess_peers(self) -> list[str]:
        """Return the lowest-scored connected peers beyond `max_peers`."""
        ordered = sorted(self.connected, key=self.score)
        return ordered[: max(0, len(ordered) - self.max_peers)]
