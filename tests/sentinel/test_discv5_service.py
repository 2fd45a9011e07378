import coincurve
import pytest
import trio

from sentinel.discv5.packet import MIN_PACKET_SIZE
from sentinel.discv5.service import DiscoveryError, Discv5Service
from sentinel.discv5.table import RoutingTable, log_distance
from sentinel.enr import ENR


def make_node(seq: int = 1) -> Discv5Service:
    key = coincurve.PrivateKey().secret
    return Discv5Service(key, ENR.create(key, seq=seq, ip="127.0.0.1", udp=0))


async def start(nursery: trio.Nursery, node: Discv5Service) -> Discv5Service:
    port = await nursery.start(node.run)
    node.record = node.record.updated(node.private_key, udp=port)
    return node


async def test_ping_handshake_and_session_reuse():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        b = await start(nursery, make_node())
        with trio.fail_after(10):
            pong = await a.ping(b.record)
            assert pong.enr_seq == b.record.seq
            assert pong.port == a.port
            # b learned a's record from the handshake.
            assert b.table.get(a.node_id) is not None
            await a.ping(b.record)
            await b.ping(a.record)
        nursery.cancel_scope.cancel()


async def test_find_node_and_lookup():
    async with trio.open_nursery() as nursery:
        nodes = [await start(nursery, make_node()) for _ in range(6)]
        boot = nodes[0]
        with trio.fail_after(30):
            for node in nodes[1:]:
                node.add_node(boot.record)
                await node.ping(boot.record)
            found = await nodes[1].find_node(boot.record, [0])
            assert [r.node_id for r in found] == [boot.node_id]
            results = await nodes[5].lookup(nodes[2].node_id)
            assert nodes[2].node_id in {r.node_id for r in results}
        nursery.cancel_scope.cancel()


async def test_talk_request_and_unknown_protocol():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        b = await start(nursery, make_node())

        async def echo(record, request):
            return request[::-1]

        b.talk_handlers[b"echo"] = echo
        with trio.fail_after(10):
            assert await a.talk(b.record, b"echo", b"abc") == b"cba"
            assert await a.talk(b.record, b"none", b"abc") == b""
        nursery.cancel_scope.cancel()


async def test_silent_peer_times_out():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        a.request_timeout = 0.3
        silent = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await silent.bind(("127.0.0.1", 0))
        key = coincurve.PrivateKey().secret
        record = ENR.create(key, ip="127.0.0.1", udp=silent.getsockname()[1])
        with pytest.raises(DiscoveryError, match="timed out"):
            await a.ping(record)
        silent.close()
        nursery.cancel_scope.cancel()


async def test_garbage_datagrams_dropped():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        b = await start(nursery, make_node())
        sender = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        for payload in (b"", b"x" * (MIN_PACKET_SIZE - 1), b"\x00" * 100, b"\xff" * 1300):
            await sender.sendto(payload, ("127.0.0.1", a.port))
        with trio.fail_after(10):
            while a.packets_dropped < 3:
                await trio.sleep(0.01)
            # The node still serves after hostile input.
            await b.ping(a.record)
        sender.close()
        nursery.cancel_scope.cancel()


def test_routing_table_buckets():
    local = bytes(32)
    table = RoutingTable(local, bucket_size=2)
    records = [ENR.create(coincurve.PrivateKey().secret, ip="127.0.0.1", udp=1) for _ in range(40)]
    for record in records:
        table.add(record)
    for distance in range(1, 257):
        assert len(table.at_distance(distance)) <= 2
    for record in table.records():
        assert record.node_id in table
        assert log_distance(local, record.node_id) >= 1
    target = records[0].node_id
    closest = table.closest(target, 3)
    values = [int.from_bytes(r.node_id, "big") ^ int.from_bytes(target, "big") for r in closest]
    assert values == sorted(values)


async def test_record_update_reaches_peer():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        b = await start(nursery, make_node())
        with trio.fail_after(10):
            await a.ping(b.record)
            assert b.table.get(a.node_id).seq == a.record.seq
            a.update_record(tcp=9000)
            await a.ping(b.record)
            while b.table.get(a.node_id).seq != a.record.seq:
                await trio.sleep(0.01)
        assert b.table.get(a.node_id).tcp == 9000
        nursery.cancel_scope.cancel()


async def test_ping_after_timeout_succeeds():
    async with trio.open_nursery() as nursery:
        a = await start(nursery, make_node())
        b = await start(nursery, make_node())
        b.request_timeout = 0.5
        unreachable = ENR.create(a.private_key, seq=1, ip="127.0.0.1", udp=a.port + 1)
        # Nothing listens at that port, so the PING times out without leaving a session.
        with pytest.raises(DiscoveryError):
            await b.ping(unreachable)
        with trio.fail_after(10):
            assert (await b.ping(a.record)).enr_seq == a.record.seq
        nursery.cancel_scope.cancel()
