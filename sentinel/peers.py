"""Peer bookkeeping: a target and maximum peer count, scores, bans and Goodbye reasons.

Scores start at 0 and drop with each `report`. A peer at or below
`DISCONNECT_THRESHOLD` is disconnected with Goodbye reason 250 (bad score), and
`accept` rejects it with the same reason until its score has decayed above. A
peer at or below `BAN_THRESHOLD` is also banned for `ban_seconds`: it gets
Goodbye 251 (banned), and `accept` rejects its connections until the ban ends.
Scores recover towards 0 by `DECAY_PER_SECOND` points per second, so a score
of -50 takes 300 seconds to climb back above the disconnect threshold. The
thresholds compare the score rounded to a whole point.

`Penalty` sizes each fault by how often an honest peer could cause it, like
Lighthouse's tolerance classes: with the thresholds above, two LOW_TOLERANCE
faults close together disconnect a peer and five ban it.
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
# At most this many info lines about bans, disconnects and rejected connections per
# LOG_WINDOW_SECONDS.
LOG_LINES_PER_WINDOW = 10
LOG_WINDOW_SECONDS = 60.0
# Disconnected peers whose records are kept for their scores, beyond the connected ones;
# the ban list drops its expired entries once it reaches this size too.
MAX_DISCONNECTED_RECORDS = 1024


class Penalty:
    """Score penalties per fault, from never honest to occasionally honest."""

    # For faults no honest peer makes: the peer is banned at once.
    FATAL = 100.0
    # A declared payload length beyond the type's bound or MAX_PAYLOAD_SIZE.
    OVERSIZED = 20.0
    # A Status on another fork digest (Goodbye 2, irrelevant network). Three in a row ban.
    IRRELEVANT_NETWORK = 20.0
    # Undecodable frames, invalid responses, gossip REJECT.
    LOW_TOLERANCE = 10.0
    # A well-formed request that breaks a rule (count 0, step other than 1).
    MID_TOLERANCE = 5.0
    # A stream over the concurrency caps (reset), or a request not sent in time.
    FLOOD = 2.0


class _LogLimiter:
    """Allows `lines` log lines per `seconds` and counts the ones suppressed."""

    def __init__(self, lines: int, seconds: float, clock: Callable[[], float]) -> None:
        self.lines = lines
        self.seconds = seconds
        self._clock = clock
        self._window_start = float("-inf")
        self._used = 0
        self.suppressed = 0

    def allow(self) -> bool:
        """Return True if a line may be logged now; otherwise count it as suppressed."""
        now = self._clock()
        if now - self._window_start >= self.seconds:
            self._window_start, self._used = now, 0
        if self._used >= self.lines:
            self.suppressed += 1
            return False
        self._used += 1
        return True

    def take_suppressed(self) -> int:
        """Return and reset the count of suppressed lines."""
        count, self.suppressed = self.suppressed, 0
        return count


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
        self._info_log = _LogLimiter(LOG_LINES_PER_WINDOW, LOG_WINDOW_SECONDS, clock)

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
        # A disconnected peer may come back only once its score has decayed above the line.
        if peer_id in self._peers and round(self.score(peer_id)) <= DISCONNECT_THRESHOLD:
            return GoodbyeReason.BAD_SCORE
        if peer_id not in self.connected and len(self.connected) >= self.max_peers:
            return GoodbyeReason.TOO_MANY_PEERS
        return None

    def on_connected(self, peer_id: str) -> None:
        """Mark a peer connected, clearing the Goodbye reason of its last connection."""
        record = self.peer(peer_id)
        record.connected = True
        record.goodbye_reason = None
        log.debug("peer connected peer=%s peers=%d", peer_id, len(self.connected))

    def on_disconnected(self, peer_id: str, reason: int | None = None) -> None:
        """Mark a peer disconnected; `reason` is the Goodbye code it sent, if any.

        Without a reason, the one its Goodbye recorded earlier is kept.
        """
        record = self.peer(peer_id)
        record.connected = False
        if reason is not None:
            record.goodbye_reason = reason
        log.debug("peer disconnected peer=%s reason=%s", peer_id, reason)
        self._forget_disconnected()

    def _forget_disconnected(self) -> None:
        # Keep the records of the worst-scored disconnected peers, so a reconnect
        # resumes their score, and drop the rest once there are too many.
        disconnected = [p for p in self._peers.values() if not p.connected]
        excess = len(disconnected) - MAX_DISCONNECTED_RECORDS
        if excess <= 0:
            return
        disconnected.sort(key=lambda record: self.score(record.peer_id), reverse=True)
        for record in disconnected[:excess]:
            del self._peers[record.peer_id]

    def on_status(self, peer_id: str, status: object, fork_digest: bytes) -> int | None:
        """Record a peer's Status; return the Goodbye reason if it is on another network.

        A Status whose `fork_digest` differs from ours costs IRRELEVANT_NETWORK and
        returns Goodbye 2 (irrelevant network), or 251 once the penalty bans the peer.
        """
        self.peer(peer_id).status = status
        theirs = bytes(status.fork_digest)  # type: ignore[attr-defined]
        if theirs == bytes(fork_digest):
            return None
        reason = f"status fork digest {theirs.hex()}, expected {bytes(fork_digest).hex()}"
        if self.report(peer_id, Penalty.IRRELEVANT_NETWORK, reason) == GoodbyeReason.BANNED:
            return GoodbyeReason.BANNED
        return GoodbyeReason.IRRELEVANT_NETWORK

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
        # Rounded to a whole point, so faults a few seconds apart still add up.
        if round(score) <= BAN_THRESHOLD:
            if not self.is_banned(peer_id):
                self.ban(peer_id, reason)
            return GoodbyeReason.BANNED
        if round(score) <= DISCONNECT_THRESHOLD:
            return GoodbyeReason.BAD_SCORE
        return None

    def ban(self, peer_id: str, reason: str) -> None:
        """Ban a peer for `ban_seconds`; logs one info line per ban (rate-limited)."""
        now = self._clock()
        if len(self._bans) >= MAX_DISCONNECTED_RECORDS:
            self._bans = {peer: until for peer, until in self._bans.items() if until > now}
        self._bans[peer_id] = now + self.ban_seconds
        self._log_limited(
            "peer banned peer=%s reason=%s seconds=%d score=%.1f",
            peer_id,
            reason,
            self.ban_seconds,
            self.peer(peer_id).score,
        )

    def log_disconnect(self, peer_id: str, goodbye_reason: int, fault: str) -> None:
        """Log a disconnect for a bad score (rate-limited like bans)."""
        self._log_limited(
            "disconnecting peer=%s goodbye=%d score=%.1f fault=%s",
            peer_id,
            goodbye_reason,
            self.score(peer_id),
            fault,
        )

    def log_rejected(self, peer_id: str, reason: int) -> None:
        """Log a rejected connection (rate-limited like bans)."""
        self._log_limited("rejecting peer peer=%s reason=%d", peer_id, reason)

    def _log_limited(self, message: str, *args: object) -> None:
        # Info lines share one budget per window; past it they go to debug, and the
        # next info line counts them.
        if self._info_log.allow():
            log.info(message + " suppressed_lines=%d", *args, self._info_log.take_suppressed())
        else:
            log.debug(message, *args)

    def excess_peers(self) -> list[str]:
        """Return the lowest-scored connected peers beyond `max_peers`."""
        ordered = sorted(self.connected, key=self.score)
        return ordered[: max(0, len(ordered) - self.max_peers)]
