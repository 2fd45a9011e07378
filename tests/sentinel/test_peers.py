from sentinel.peers import BAN_THRESHOLD, DECAY_PER_SECOND, PeerManager


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
