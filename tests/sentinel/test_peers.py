import logging
from types import SimpleNamespace

import pytest

from caplin.config import ChainSpec
from sentinel.peers import (
    BAN_THRESHOLD,
    DECAY_PER_SECOND,
    LOG_LINES_PER_WINDOW,
    MIN_SCORE,
    PeerManager,
    Penalty,
)
from sentinel.reqresp.protocols import PROTOCOLS
from sentinel.reqresp.ratelimit import (
    GLOBAL_FACTOR,
    Quota,
    RateLimiter,
    TokenBucket,
    default_quotas,
)

SPEC = ChainSpec.for_preset("minimal")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_scores_decay_towards_zero():
    clock = Clock()
    peers = PeerManager(clock=clock)
    assert peers.report("a", 10, "slow") is None
    clock.now = 10
    assert peers.score("a") == -10 + 10 * DECAY_PER_SECOND


def test_ban_expires():
    clock = Clock()
    peers = PeerManager(ban_seconds=60, clock=clock)
    assert peers.report("a", abs(BAN_THRESHOLD), "invalid") == 251
    assert peers.is_banned("a")
    clock.now = 61
    assert not peers.is_banned("a")


def test_peer_limit_and_excess():
    peers = PeerManager(target_peers=1, max_peers=2)
    peers.on_connected("a")
    assert not peers.needs_peers()
    peers.on_connected("b")
    assert peers.accept("c") == 129
    assert peers.accept("a") is None
    peers.max_peers = 1
    peers.report("b", 5, "slow")
    assert peers.excess_peers() == ["b"]


def test_ban_logged_once_and_rate_limited(caplog):
    clock = Clock()
    peers = PeerManager(clock=clock)
    caplog.set_level(logging.INFO, logger="sentinel.peers")
    peers.report("a", 60, "invalid block")
    peers.report("a", 10, "invalid block")
    assert [r.getMessage().split()[0:2] for r in caplog.records] == [["peer", "banned"]]
    assert "peer=a reason=invalid block" in caplog.records[0].getMessage()

    caplog.clear()
    for index in range(LOG_LINES_PER_WINDOW + 5):
        peers.report(f"p{index}", 60, "flood")
    assert len(caplog.records) == LOG_LINES_PER_WINDOW - 1
    clock.now = 61
    peers.report("late", 60, "flood")
    assert "suppressed_lines=6" in caplog.records[-1].getMessage()


def test_penalty_classes_against_thresholds():
    peers = PeerManager(clock=Clock())
    assert peers.report("low", Penalty.LOW_TOLERANCE, "garbage") is None
    assert peers.report("low", Penalty.LOW_TOLERANCE, "garbage") == 250
    assert peers.report("big", Penalty.OVERSIZED, "oversized") == 250
    assert peers.report("fatal", Penalty.FATAL, "fatal") == 251
    assert peers.score("fatal") == MIN_SCORE


def test_status_on_other_network():
    peers = PeerManager()
    status = SimpleNamespace(fork_digest=b"\x01\x02\x03\x04")
    assert peers.on_status("a", status, b"\x01\x02\x03\x04") is None
    assert peers.score("a") == 0
    other = SimpleNamespace(fork_digest=b"\xff\xff\xff\xff")
    assert peers.on_status("b", other, b"\x01\x02\x03\x04") == 2
    assert peers.peer("b").status is other
    assert peers.on_status("b", other, b"\x01\x02\x03\x04") == 2
    assert peers.on_status("b", other, b"\x01\x02\x03\x04") == 251
    assert peers.is_banned("b")


def test_goodbye_reason_survives_disconnect():
    peers = PeerManager()
    peers.on_connected("a")
    peers.on_disconnected("a", 2)
    peers.on_disconnected("a")
    assert peers.peer("a").goodbye_reason == 2
    peers.on_connected("a")
    assert peers.peer("a").goodbye_reason is None


def test_disconnected_records_bounded(monkeypatch):
    monkeypatch.setattr("sentinel.peers.MAX_DISCONNECTED_RECORDS", 3)
    peers = PeerManager()
    peers.report("bad", 30, "invalid")
    for name in ("bad", "x", "y", "z", "w"):
        peers.on_connected(name)
        peers.on_disconnected(name)
    remaining = {p for p in ("bad", "x", "y", "z", "w") if p in peers._peers}
    assert len(remaining) == 3
    assert "bad" in remaining


# Rate limits of the serving side.


def test_token_bucket_lends_and_refills():
    bucket = TokenBucket(Quota(4, 2), now=0.0)
    assert bucket.reserve(4, 0.0) == 0
    assert bucket.reserve(1, 0.0) == 0.5
    assert bucket.reserve(1, 0.0) == 1.0
    assert not bucket.is_full(1.0)
    assert bucket.is_full(5.0)
    assert bucket.tokens == 4


def test_concurrent_stream_caps():
    limiter = RateLimiter(SPEC, max_concurrent=2, max_streams=3)
    assert limiter.open_stream("a", "/x") is None
    assert limiter.open_stream("a", "/x") is None
    assert "more than 2 concurrent requests on /x" == limiter.open_stream("a", "/x")
    assert limiter.open_stream("b", "/x") is None
    assert limiter.open_stream("a", "/y") is None
    assert "more than 3 concurrent inbound streams" == limiter.open_stream("a", "/z")
    limiter.close_stream("a", "/x")
    assert limiter.open_stream("a", "/x") is None
    assert limiter.open_streams("a") == 3
    limiter.close_stream("a", "/unknown")
    assert limiter.open_streams("a") == 3


def test_requests_over_quota_are_withheld():
    clock = Clock()
    limiter = RateLimiter(SPEC, clock=clock)
    quota, chunks = default_quotas(SPEC)["status"]
    assert chunks is None
    delays = [limiter.request_delay("a", "status") for _ in range(quota.amount + 2)]
    assert delays[: quota.amount] == [0.0] * quota.amount
    assert delays[-2] == pytest.approx(1 / quota.rate)
    assert delays[-1] == pytest.approx(2 / quota.rate)
    # Another peer has its own bucket.
    assert limiter.request_delay("b", "status") == 0
    assert limiter.chunk_delay("a", "status") == 0
    clock.now = quota.seconds * 2
    assert limiter.request_delay("a", "status") == 0


def test_block_chunks_per_peer_and_global():
    clock = Clock()
    quotas = {"beacon_blocks_by_range": (Quota(100, 10), Quota(10, 10))}
    limiter = RateLimiter(SPEC, quotas=quotas, clock=clock)
    assert limiter.chunk_delay("a", "beacon_blocks_by_range", 10) == 0
    assert limiter.chunk_delay("a", "beacon_blocks_by_range") == pytest.approx(1.0)
    # The global bucket has GLOBAL_FACTOR times the per-peer capacity.
    # Peer a took 11 of its 80 tokens; six more peers take 60, so one token is missing.
    for index in range(GLOBAL_FACTOR - 2):
        assert limiter.chunk_delay(f"p{index}", "beacon_blocks_by_range", 10) == 0
    global_rate = GLOBAL_FACTOR * 10 / 10
    assert limiter.chunk_delay("fresh", "beacon_blocks_by_range", 10) == 1 / global_rate


def test_default_quotas_cover_every_protocol():
    quotas = default_quotas(SPEC)
    assert {protocol.name for protocol in PROTOCOLS} == set(quotas)
    request, chunks = quotas["beacon_blocks_by_range"]
    assert chunks == Quota(int(SPEC.MAX_REQUEST_BLOCKS), 10)
    assert request.amount > 0


def test_idle_peers_pruned():
    clock = Clock()
    limiter = RateLimiter(SPEC, clock=clock)
    limiter.request_delay("idle", "ping")
    limiter.open_stream("busy", "/x")
    limiter.request_delay("busy", "ping")
    clock.now = 100
    limiter.prune()
    assert limiter.open_streams("busy") == 1
    assert "idle" not in limiter._peers
