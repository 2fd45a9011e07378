"""Serving-side req/resp limits: token buckets per peer and protocol, and stream caps.

The consensus p2p spec (1.7.0b4) lets a responder rate-limit by withholding each
response chunk until capacity is available, and forbids an error response or a
closed stream for that reason. So a request over quota is delayed, never refused.
What is refused is concurrency: the spec's requester opens at most
`MAX_CONCURRENT_REQUESTS` (2) streams per protocol id at a time and the responder
may penalise more, so a further stream is reset and its peer penalised. A second
cap bounds the inbound streams of one peer over all protocols.

Each protocol has a request bucket (one token per request); protocols that send
many chunks also have a chunk bucket (one token per chunk sent). Every bucket
exists per peer and once more for all peers together (the spec's two-level bucket),
with the global one `GLOBAL_FACTOR` times larger.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentinel.reqresp.protocols import MAX_REQUEST_LIGHT_CLIENT_UPDATES

MAX_CONCURRENT_REQUESTS = 2
MAX_INBOUND_STREAMS_PER_PEER = 16
GLOBAL_FACTOR = 8
# Peers with no open stream and full buckets are forgotten once this many are tracked.
PRUNE_AFTER_PEERS = 512


@dataclass(frozen=True)
class Quota:
    """A refill rate of `amount` tokens per `seconds`, and a bucket capacity of `amount`."""

    amount: int
    seconds: float

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.amount / self.seconds


class TokenBucket:
    """A token bucket that lends: `reserve` takes the tokens at once and returns the wait.

    The balance may go negative, so each caller waits behind the reservations made
    before it instead of racing them for the same refill.
    """

    def __init__(self, quota: Quota, now: float) -> None:
        self.quota = quota
        self.tokens = float(quota.amount)
        self.updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.quota.amount), self.tokens + elapsed * self.quota.rate)
        self.updated = now

    def reserve(self, amount: float, now: float) -> float:
        """Take `amount` tokens; return the seconds to wait until they exist (0 if now)."""
        self._refill(now)
        self.tokens -= amount
        return 0.0 if self.tokens >= 0 else -self.tokens / self.quota.rate

    def is_full(self, now: float) -> bool:
        """Return True when the bucket has refilled completely."""
        self._refill(now)
        return self.tokens >= self.quota.amount


def _config(spec: Any, name: str, default: int) -> int:
    return int(getattr(spec, name, default))


def default_quotas(spec: Any) -> dict[str, tuple[Quota, Quota | None]]:
    """Return protocol name -> (request quota, chunk quota or None) per peer.

    The single-response quotas and the chunk quotas of blocks and light-client
    updates are the inbound quotas of Lodestar 1.5.1 (its reqresp protocol
    definitions). The rest are this module's choice: one full response per 10
    seconds for blob and column sidecars, and 32 requests per 10 seconds for every
    multi-chunk protocol.
    """
    blocks = _config(spec, "MAX_REQUEST_BLOCKS", 1024)
    blocks_deneb = _config(spec, "MAX_REQUEST_BLOCKS_DENEB", 128)
    blobs = _config(spec, "MAX_REQUEST_BLOB_SIDECARS_ELECTRA", 1152)
    columns = _config(spec, "MAX_REQUEST_DATA_COLUMN_SIDECARS", 16384)
    requests = Quota(32, 10)
    return {
        "status": (Quota(5, 15), None),
        "goodbye": (Quota(1, 10), None),
        "ping": (Quota(2, 10), None),
        "metadata": (Quota(2, 5), None),
        "beacon_blocks_by_range": (requests, Quota(blocks, 10)),
        "beacon_blocks_by_root": (requests, Quota(blocks_deneb, 10)),
        "blob_sidecars_by_range": (requests, Quota(blobs, 10)),
        "blob_sidecars_by_root": (requests, Quota(blobs, 10)),
        "data_column_sidecars_by_range": (requests, Quota(columns, 10)),
        "data_column_sidecars_by_root": (requests, Quota(columns, 10)),
        "light_client_bootstrap": (Quota(5, 15), None),
        "light_client_updates_by_range": (requests, Quota(MAX_REQUEST_LIGHT_CLIENT_UPDATES, 10)),
        "light_client_finality_update": (Quota(2, 12), None),
        "light_client_optimistic_update": (Quota(2, 12), None),
    }


# Quota for a protocol name missing from the table.
FALLBACK_QUOTA = Quota(5, 15)


@dataclass
class _PeerLimits:
    buckets: dict[tuple[str, str], TokenBucket]
    streams: dict[str, int]

    @property
    def open_streams(self) -> int:
        return sum(self.streams.values())


class RateLimiter:
    """The serving-side limits of one host: stream caps and withheld responses.

    Call `open_stream` when a peer opens an inbound stream and `close_stream` when
    it ends. Call `request_delay` before the response and `chunk_delay` before each
    chunk. Both return the seconds to withhold it. The tokens are reserved by then,
    so the caller only sleeps.
    """

    def __init__(
        self,
        spec: Any,
        quotas: dict[str, tuple[Quota, Quota | None]] | None = None,
        max_concurrent: int = MAX_CONCURRENT_REQUESTS,
        max_streams: int = MAX_INBOUND_STREAMS_PER_PEER,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.quotas = quotas if quotas is not None else default_quotas(spec)
        self.max_concurrent = max_concurrent
        self.max_streams = max_streams
        self._clock = clock or time.monotonic
        self._peers: dict[str, _PeerLimits] = {}
        self._global: dict[tuple[str, str], TokenBucket] = {}

    def _limits(self, peer_id: str) -> _PeerLimits:
        limits = self._peers.get(peer_id)
        if limits is None:
            if len(self._peers) >= PRUNE_AFTER_PEERS:
                self.prune()
            limits = self._peers[peer_id] = _PeerLimits({}, {})
        return limits

    def open_stream(self, peer_id: str, protocol_id: str) -> str | None:
        """Count an inbound stream; return None to serve it, or why it must be reset."""
        limits = self._limits(peer_id)
        if limits.open_streams >= self.max_streams:
            return f"more than {self.max_streams} concurrent inbound streams"
        if limits.streams.get(protocol_id, 0) >= self.max_concurrent:
            return f"more than {self.max_concurrent} concurrent requests on {protocol_id}"
        limits.streams[protocol_id] = limits.streams.get(protocol_id, 0) + 1
        return None

    def close_stream(self, peer_id: str, protocol_id: str) -> None:
        """Forget a stream that `open_stream` admitted."""
        limits = self._peers.get(peer_id)
        if limits is None or protocol_id not in limits.streams:
            return
        limits.streams[protocol_id] -= 1
        if limits.streams[protocol_id] <= 0:
            del limits.streams[protocol_id]

    def request_delay(self, peer_id: str, protocol_name: str) -> float:
        """Reserve one request of `protocol_name`; return the seconds to withhold it."""
        quota = self.quotas.get(protocol_name, (FALLBACK_QUOTA, None))[0]
        return self._reserve(peer_id, (protocol_name, "request"), quota, 1)

    def chunk_delay(self, peer_id: str, protocol_name: str, chunks: int = 1) -> float:
        """Reserve `chunks` response chunks; return the seconds to withhold the next one.

        It returns 0 for protocols without a chunk quota (the single-response ones).
        """
        quota = self.quotas.get(protocol_name, (FALLBACK_QUOTA, None))[1]
        if quota is None:
            return 0.0
        return self._reserve(peer_id, (protocol_name, "chunk"), quota, chunks)

    def _reserve(self, peer_id: str, key: tuple[str, str], quota: Quota, amount: int) -> float:
        now = self._clock()
        buckets = self._limits(peer_id).buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(quota, now)
        shared = self._global.get(key)
        if shared is None:
            global_quota = Quota(quota.amount * GLOBAL_FACTOR, quota.seconds)
            shared = self._global[key] = TokenBucket(global_quota, now)
        return max(bucket.reserve(amount, now), shared.reserve(amount, now))

    def open_streams(self, peer_id: str) -> int:
        """Return how many inbound streams of `peer_id` are being served."""
        limits = self._peers.get(peer_id)
        return 0 if limits is None else limits.open_streams

    def prune(self) -> None:
        """Forget peers with no open stream whose buckets have all refilled."""
        now = self._clock()
        idle = [
            peer_id
            for peer_id, limits in self._peers.items()
            if not limits.streams and all(b.is_full(now) for b in limits.buckets.values())
        ]
        for peer_id in idle:
            del self._peers[peer_id]
