import coincurve
import pytest
import trio

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from sentinel.enr import ENR
from sentinel.gossip.topics import compress_payload
from sentinel.memory_chain import MemoryChain
from sentinel.reqresp.protocols import ForkContext
from sentinel.service import Sentinel, SentinelConfig, parse_bootnodes, parse_static_peers

SPEC = ChainSpec.for_preset("minimal")
GENESIS_ROOT = bytes(range(32))
DIGEST = ForkContext(SPEC, GENESIS_ROOT).digest_of_fork(Fork.PHASE0)


def make_sentinel(bootnodes: list[str] | None = None) -> Sentinel:
    status = SPEC.types(Fork.PHASE0).Status(fork_digest=DIGEST)
    chain = MemoryChain(status, SPEC.types(Fork.ALTAIR).MetaData())
    config = SentinelConfig(
        udp_port=0, tcp_port=0, bootnodes=bootnodes or [], target_peers=1, attnets=frozenset({1})
    )
    return Sentinel(SPEC, coincurve.PrivateKey().secret, GENESIS_ROOT, chain, config)


async def test_sentinel_finds_bootnode_and_connects():
    async with trio.open_nursery() as nursery:
        a = make_sentinel()
        record_a = await nursery.start(a.run)
        assert record_a.eth2.fork_digest == DIGEST
        assert record_a.attnets == {1}
        b = make_sentinel([record_a.to_text()])
        await nursery.start(b.run)
        with trio.fail_after(30):
            while a.host.peer_id not in b.host.peers.connected:
                await trio.sleep(0.1)
        nursery.cancel_scope.cancel()


def test_parse_bootnodes_and_static_peers():
    key = coincurve.PrivateKey().secret
    record = ENR.create(key, ip="127.0.0.1", tcp=9000, udp=9000)
    text = record.to_text()
    assert [r.node_id for r in parse_bootnodes([f"{text},{text}"])] == [record.node_id] * 2
    static = parse_static_peers([text, "/ip4/127.0.0.1/tcp/9001/p2p/16Uiu2HAmAbc"])
    assert static[0].startswith("/ip4/127.0.0.1/tcp/9000/p2p/16Uiu2")
    assert static[1] == "/ip4/127.0.0.1/tcp/9001/p2p/16Uiu2HAmAbc"
    with pytest.raises(ValueError, match="invalid bootnode"):
        parse_bootnodes(["enr:notbase64!"])
    with pytest.raises(ValueError, match="neither"):
        parse_static_peers(["127.0.0.1:9000"])


async def test_sentinel_gossip_and_record_refresh():
    async with trio.open_nursery() as nursery:
        a = make_sentinel()
        record_a = await nursery.start(a.run)
        b = make_sentinel([record_a.to_text()])
        await nursery.start(b.run)
        queue = await b.subscribe("voluntary_exit")
        await a.subscribe("voluntary_exit")
        topic = a.topic("voluntary_exit")
        with trio.fail_after(30):
            while not a.pubsub.peer_topics.get(topic):
                await trio.sleep(0.05)
            ssz = SPEC.types(Fork.PHASE0).SignedVoluntaryExit().encode_bytes()
            await a.publish("voluntary_exit", ssz)
            message = await queue.receive()
        assert message.data == compress_payload(ssz)

        a.config.attnets = frozenset({5, 6})
        refreshed = a.refresh_record()
        assert refreshed.seq == record_a.seq + 1
        assert refreshed.attnets == {5, 6}
        assert refreshed.tcp == record_a.tcp
        nursery.cancel_scope.cancel()


def test_enr_fork_id_and_nfd_follow_schedule():
    config = {"ALTAIR_FORK_EPOCH": 0, "BELLATRIX_FORK_EPOCH": 0, "CAPELLA_FORK_EPOCH": 0}
    config.update({"DENEB_FORK_EPOCH": 0, "ELECTRA_FORK_EPOCH": 0, "FULU_FORK_EPOCH": 2})
    config["BLOB_SCHEDULE"] = [{"EPOCH": 5, "MAX_BLOBS_PER_BLOCK": 12}]
    spec = ChainSpec.from_config(config, preset="minimal")
    forks = ForkContext(spec, GENESIS_ROOT)
    electra, fulu = forks.digest_of_fork(Fork.ELECTRA), forks.digest_at_epoch(2)
    status = spec.types(Fork.PHASE0).Status(fork_digest=electra)
    chain = MemoryChain(status, spec.types(Fork.ALTAIR).MetaData())
    sentinel = Sentinel(spec, coincurve.PrivateKey().secret, GENESIS_ROOT, chain, SentinelConfig())

    fork_id = sentinel.enr_fork_id()
    assert fork_id.fork_digest == electra
    assert fork_id.next_fork_version == spec.fork_version(Fork.FULU)
    assert fork_id.next_fork_epoch == 2
    assert sentinel._record_values(9000, 9001)["nfd"] == fulu

    # From Fulu a blob schedule entry is the next fork: the version stays Fulu's.
    chain.set_status(spec.types(Fork.PHASE0).Status(fork_digest=fulu))
    fork_id = sentinel.enr_fork_id()
    assert fork_id.next_fork_version == spec.fork_version(Fork.FULU)
    assert fork_id.next_fork_epoch == 5
    assert sentinel._record_values(9000, 9001)["nfd"] == forks.digest_at_epoch(5)

    # After the last entry nothing is scheduled.
    chain.set_status(spec.types(Fork.PHASE0).Status(fork_digest=forks.digest_at_epoch(5)))
    fork_id = sentinel.enr_fork_id()
    assert fork_id.next_fork_version == spec.fork_version(Fork.FULU)
    assert fork_id.next_fork_epoch == FAR_FUTURE_EPOCH
    assert sentinel._record_values(9000, 9001)["nfd"] == b"\x00" * 4
