"""A hostile peer against a serving host: each fault costs score, then Goodbye, then a ban.

The default run drives a `SentinelHost` in this process. The slow test starts two
caplin node processes (a block producer and an honest follower) and aims every
fault at the producer while both keep the same head.
"""

import datetime
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import coincurve
import multiaddr
import pytest
import trio
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import info_from_p2p_addr

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from caplin.node.devchain import dev_chain_spec
from sentinel.host import HostConfig, SentinelHost
from sentinel.memory_chain import MemoryChain
from sentinel.peers import DISCONNECT_THRESHOLD, Penalty
from sentinel.reqresp import protocols as p
from sentinel.reqresp.codec import (
    CodecError,
    ErrorResponse,
    ResponseCode,
    StreamReader,
    encode_payload,
    encode_varint,
)
from sentinel.reqresp.exchange import (
    OversizedPayload,
    encode_success,
    read_request,
    read_responses,
    request_penalty,
    validate_request,
)
from sentinel.reqresp.protocols import ForkContext, GoodbyeReason
from sentinel.reqresp.ratelimit import Quota
from sentinel.service import Sentinel, SentinelConfig

SPEC = ChainSpec.for_preset("minimal")
GENESIS_ROOT = bytes(range(32))
FORKS = ForkContext(SPEC, GENESIS_ROOT)
STREAM_FAILED = -1
# What a dial raises when the remote resets its streams or closes the connection.
REJECTED_DIAL = (ConnectionError, StreamError, ErrorResponse, CodecError, BaseLibp2pError)


def make_chain(blocks: int = 0, digest: bytes | None = None) -> MemoryChain:
    types = SPEC.types(Fork.PHASE0)
    status = types.Status(fork_digest=digest or FORKS.digest_of_fork(Fork.PHASE0), head_slot=blocks)
    chain = MemoryChain(status, SPEC.types(Fork.ALTAIR).MetaData(seq_number=1))
    for slot in range(1, blocks + 1):
        block = types.SignedBeaconBlock()
        block.message.slot = slot
        chain.add_block(block)
    return chain


def make_host(chain: MemoryChain) -> SentinelHost:
    return SentinelHost(SPEC, coincurve.PrivateKey().secret, FORKS, chain, HostConfig())


async def raw_exchange(host: SentinelHost, peer_id: str, protocol_id: str, data: bytes) -> int:
    """Send raw request bytes on a new stream; return the first response byte.

    Returns STREAM_FAILED when the stream is reset or closed without a response.
    """
    try:
        with trio.fail_after(15):
            stream = await host.libp2p.new_stream(ID.from_base58(peer_id), [protocol_id])
            await stream.write(data)
            await stream.close_write()
            first = await stream.read(1)
            await stream.close()
    except trio.TooSlowError:
        raise
    except Exception:  # py-libp2p raises StreamReset, StreamEOF and muxer errors here
        return STREAM_FAILED
    return first[0] if first else STREAM_FAILED


async def wait_for(condition, timeout: float, description: str) -> float:
    """Wait until `condition()` holds; return the seconds it took."""
    start = time.monotonic()
    with trio.move_on_after(timeout):
        while not condition():
            await trio.sleep(0.05)
        return time.monotonic() - start
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


def blocks_request(start_slot: int, count: int, step: int = 1) -> bytes:
    request_type = p.BLOCKS_BY_RANGE.request_type(SPEC, Fork.PHASE0)
    return encode_payload(
        request_type(start_slot=start_slot, count=count, step=step).encode_bytes()
    )


async def connected_pair(nursery, server_chain: MemoryChain | None = None):
    server = make_host(server_chain or make_chain(blocks=8))
    hostile = make_host(make_chain())
    address = await nursery.start(server.run)
    await nursery.start(hostile.run)
    with trio.fail_after(30):
        peer = await hostile.dial(address)
    return server, hostile, peer, address


# One fault of each kind: (description, protocol id, raw request bytes, expected penalty).
SINGLE_FAULTS = [
    ("garbage frame", p.STATUS_V1.protocol_id, b"\x54" + b"\xde\xad\xbe\xef" * 8, 10.0),
    ("bad snappy frame", p.PING.protocol_id, encode_varint(8) + b"\xff\x06\x00\x00sNaPpX", 10.0),
    (
        "oversized length prefix",
        p.BLOCKS_BY_RANGE.protocol_id,
        encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) + 1) + b"\x00" * 64,
        Penalty.OVERSIZED,
    ),
    ("count zero", p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 0), Penalty.MID_TOLERANCE),
    ("step two", p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 4, 2), Penalty.MID_TOLERANCE),
]


@pytest.mark.parametrize(
    "description,protocol_id,data,penalty", SINGLE_FAULTS, ids=[f[0] for f in SINGLE_FAULTS]
)
async def test_single_fault_penalty(description, protocol_id, data, penalty):
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        code = await raw_exchange(hostile, peer, protocol_id, data)
        assert code == ResponseCode.INVALID_REQUEST, description
        score = server.peers.score(hostile.peer_id)
        assert -penalty - 0.5 < score <= -penalty + 0.5, (description, score)
        nursery.cancel_scope.cancel()


async def test_oversized_prefix_disconnects():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        data = encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) * 4) + b"\x00" * 16
        assert await raw_exchange(hostile, peer, p.BLOCKS_BY_ROOT.protocol_id, data) == 1
        assert Penalty.OVERSIZED >= -DISCONNECT_THRESHOLD
        await wait_for(lambda: hostile.peers.peer(peer).goodbye_reason is not None, 10, "Goodbye")
        assert hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BAD_SCORE
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert not server.peers.is_banned(hostile.peer_id)
        nursery.cancel_scope.cancel()


async def test_garbage_burst_bans_and_refuses_reconnect():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, address = await connected_pair(nursery)
        garbage = b"\x08" + b"\x00" * 12
        codes: list[int] = []

        async def send_garbage(protocol_id: str) -> None:
            codes.append(await raw_exchange(hostile, peer, protocol_id, garbage))

        # Five frames at once, on five protocols so that no concurrency cap resets them,
        # land before the first Goodbye closes the connection.
        targets = (p.PING, p.STATUS_V1, p.GOODBYE, p.BLOCKS_BY_RANGE, p.BLOCKS_BY_ROOT)
        async with trio.open_nursery() as burst:
            for protocol in targets:
                burst.start_soon(send_garbage, protocol.protocol_id)
        assert codes.count(ResponseCode.INVALID_REQUEST) >= 2, codes
        await wait_for(lambda: server.peers.is_banned(hostile.peer_id), 10, "the ban")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert hostile.peers.peer(peer).goodbye_reason in (250, 251)

        # A banned peer's reconnect gets Goodbye 251 and no service.
        with pytest.raises(REJECTED_DIAL):
            with trio.fail_after(20):
                await hostile.dial(address)
        await wait_for(
            lambda: hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BANNED,
            10,
            "Goodbye 251 on the reconnect",
        )
        await trio.sleep(0.5)
        assert hostile.peer_id not in server.peers.connected
        nursery.cancel_scope.cancel()


async def test_disconnected_peer_rejected_until_score_decays():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, address = await connected_pair(nursery)
        oversized = encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) + 1)
        assert await raw_exchange(hostile, peer, p.PING.protocol_id, oversized) == 1
        server.peers.report(hostile.peer_id, Penalty.LOW_TOLERANCE, "test: deeper score")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert not server.peers.is_banned(hostile.peer_id)
        assert server.peers.accept(hostile.peer_id) == GoodbyeReason.BAD_SCORE
        with pytest.raises(REJECTED_DIAL):
            with trio.fail_after(20):
                await hostile.dial(address)
        await wait_for(
            lambda: hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.BAD_SCORE,
            10,
            "Goodbye 250 on the reconnect",
        )
        nursery.cancel_scope.cancel()


async def test_blocks_by_range_flood_resets_and_bans():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery, make_chain(blocks=64))
        codes: list[int] = []

        async def one_request() -> None:
            code = await raw_exchange(
                hostile, peer, p.BLOCKS_BY_RANGE.protocol_id, blocks_request(1, 64)
            )
            codes.append(code)

        start = time.monotonic()
        async with trio.open_nursery() as flood:
            for _ in range(60):
                flood.start_soon(one_request)
        elapsed = time.monotonic() - start
        assert codes.count(ResponseCode.SUCCESS) >= 2
        assert codes.count(STREAM_FAILED) >= 25, codes
        await wait_for(lambda: server.peers.is_banned(hostile.peer_id), 10, "the ban")
        await wait_for(lambda: hostile.peer_id not in server.peers.connected, 10, "disconnect")
        assert elapsed < 30
        nursery.cancel_scope.cancel()


async def test_sequential_requests_are_withheld_not_refused():
    async with trio.open_nursery() as nursery:
        server, hostile, peer, _ = await connected_pair(nursery)
        # Two Pings per second instead of per 10 s, to keep the test short.
        quota = Quota(2, 1)
        server.limiter.quotas["ping"] = (quota, None)
        value = encode_payload((5).to_bytes(8, "little"))
        start = time.monotonic()
        codes = [
            await raw_exchange(hostile, peer, p.PING.protocol_id, value)
            for _ in range(quota.amount + 1)
        ]
        assert codes == [ResponseCode.SUCCESS] * (quota.amount + 1)
        # The request past the quota waited for one token instead of getting an error.
        assert time.monotonic() - start >= 0.8 / quota.rate
        assert server.peers.score(hostile.peer_id) == 0
        nursery.cancel_scope.cancel()


async def test_status_on_other_network_gets_goodbye():
    async with trio.open_nursery() as nursery:
        server = make_host(make_chain())
        hostile = make_host(make_chain(digest=b"\xde\xad\xbe\xef"))
        address = await nursery.start(server.run)
        await nursery.start(hostile.run)
        with trio.fail_after(30):
            # The hostile peer sends a Status on another digest, ignoring the mismatch.
            info = info_from_p2p_addr(multiaddr.Multiaddr(address))
            peer = info.peer_id.to_base58()
            await hostile.libp2p.connect(info)
            await hostile.request(peer, p.STATUS_V1, hostile.chain.status())
            seconds = await wait_for(
                lambda: hostile.peers.peer(peer).goodbye_reason is not None, 10, "Goodbye"
            )
        assert hostile.peers.peer(peer).goodbye_reason == GoodbyeReason.IRRELEVANT_NETWORK
        assert seconds < 5
        assert server.peers.score(hostile.peer_id) <= -Penalty.IRRELEVANT_NETWORK + 0.5
        nursery.cancel_scope.cancel()


# --- Two caplin node processes and hostile peers ------------------------------------------

# Ports of this test (its range is 25700-25799): producer, follower, hostile peers.
PRODUCER_PORTS = (25710, 25711, 25712)
FOLLOWER_PORTS = (25720, 25721, 25722)
HOSTILE_BASE_PORT = 25740
NODE_SLOT_MS = 2000


def start_caplin(datadir, ports, genesis_time: int, *extra: str):
    """Start a caplin dev node process on loopback; return (process, log path)."""
    udp_port, tcp_port, api_port = ports
    datadir.mkdir(parents=True)
    config = datadir / "fast.yaml"
    config.write_text(f"SLOT_DURATION_MS: {NODE_SLOT_MS}\n")
    log_path = datadir / "console.log"
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        f"--datadir={datadir}",
        f"--dev.config={config}",
        f"--dev.genesis-time={genesis_time}",
        "--sentinel.enable=true",
        "--caplin.discovery.addr=127.0.0.1",
        f"--caplin.discovery.port={udp_port}",
        f"--caplin.discovery.tcpport={tcp_port}",
        "--beacon.api.addr=127.0.0.1",
        f"--beacon.api.port={api_port}",
        "--http=false",
        f"--log.dir.path={datadir / 'logs'}",
        *extra,
    ]
    log_file = open(log_path, "ab")
    process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    log_file.close()
    return process, log_path


def stop_caplin(process) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def api_get(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())["data"]


async def api(port: int, path: str):
    return await trio.to_thread.run_sync(api_get, port, path)


async def api_when_up(port: int, path: str, timeout: float, log_path):
    with trio.move_on_after(timeout):
        while True:
            try:
                return await api(port, path)
            except OSError:
                await trio.sleep(0.5)
    raise AssertionError(f"API on {port} not up in {timeout} s:\n{log_path.read_text()[-3000:]}")


async def head(port: int) -> tuple[int, bytes]:
    """Return (slot, root) of a node's head block header."""
    for _ in range(10):
        try:
            header = await api(port, "/eth/v1/beacon/headers/head")
            break
        except urllib.error.HTTPError as error:
            # NOTE: while a block is being imported the head header can briefly be 404.
            if error.code != 404:
                raise
            await trio.sleep(0.2)
    else:
        raise AssertionError(f"/eth/v1/beacon/headers/head on {port} stays 404")
    slot = int(header["header"]["message"]["slot"])
    return slot, bytes.fromhex(header["root"][2:])


async def peer_ids(port: int) -> set[str]:
    return {peer["peer_id"] for peer in await api(port, "/eth/v1/node/peers")}


async def poll(check, timeout: float, description: str) -> float:
    """Call `check()` (awaiting it if it is async) until it is true; return the seconds."""
    start = time.monotonic()
    with trio.move_on_after(timeout):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return time.monotonic() - start
            await trio.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {description}")


class HostileSentinel:
    """A Sentinel on the producer's chain (right fork digest) that misbehaves on purpose."""

    def __init__(self, spec, genesis_root: bytes, digest: bytes, port: int) -> None:
        types = spec.types(Fork.ELECTRA)
        status = types.Status(fork_digest=digest)
        chain = MemoryChain(status, types.MetaData(seq_number=1))
        config = SentinelConfig(listen_host="127.0.0.1", udp_port=port, tcp_port=port + 1)
        self.spec = spec
        self.sentinel = Sentinel(spec, coincurve.PrivateKey().secret, genesis_root, chain, config)
        self.host = self.sentinel.host

    @property
    def peer_id(self) -> str:
        return self.host.peer_id

    def goodbye_from(self, peer: str) -> int | None:
        return self.host.peers.peer(peer).goodbye_reason

    def invalid_block(self, slot: int, parent_root: bytes, proposer_index: int) -> bytes:
        """Return a SignedBeaconBlock on a known parent whose signature is random bytes."""
        block = self.spec.types(Fork.ELECTRA).SignedBeaconBlock()
        block.message.slot = slot
        block.message.proposer_index = proposer_index
        block.message.parent_root = parent_root
        block.message.body.graffiti = os.urandom(32)
        block.signature = os.urandom(96)
        return block.encode_bytes()


async def run_hostile(nursery, spec, genesis_root, digest, port) -> HostileSentinel:
    hostile = HostileSentinel(spec, genesis_root, digest, port)
    await nursery.start(hostile.sentinel.run)
    return hostile


def peer_log_lines(log_dir, peer_id: str) -> list[str]:
    """Return the producer's debug log lines that name `peer_id`."""
    lines = []
    for path in sorted(log_dir.glob("*")):
        lines += [line for line in path.read_text().splitlines() if f"peer={peer_id}" in line]
    return lines


def _log_time(line: str) -> float:
    stamp = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
    return stamp.timestamp()


def producer_verdict(log_dir, peer_id: str) -> dict:
    """Summarise what the producer logged about a peer: penalties, disconnect and ban.

    Times are seconds from the first penalty; None when the event was not logged.
    """
    lines = peer_log_lines(log_dir, peer_id)
    penalties = [line for line in lines if "peer penalized" in line]
    start = _log_time(penalties[0]) if penalties else None

    def first(text: str) -> float | None:
        found = [line for line in lines if text in line]
        if not found or start is None:
            return None
        return round(_log_time(found[0]) - start, 3)

    return {
        "penalties": len(penalties),
        "faults": sorted({line.split("reason=", 1)[1].split(" score=")[0] for line in penalties}),
        "disconnect_s": first("disconnecting peer="),
        "ban_s": first("peer banned"),
        "rejected_reconnects": sum("rejecting peer" in line for line in lines),
    }


@pytest.mark.slow
async def test_hostile_peers_cut_off_while_nodes_follow(tmp_path):
    genesis_time = int(time.time()) + 12
    producer, producer_log = start_caplin(tmp_path / "producer", PRODUCER_PORTS, genesis_time)
    processes = [producer]
    try:
        api_port = PRODUCER_PORTS[2]
        identity = await api_when_up(api_port, "/eth/v1/node/identity", 90, producer_log)
        producer_id = identity["peer_id"]
        producer_address = f"/ip4/127.0.0.1/tcp/{PRODUCER_PORTS[1]}/p2p/{producer_id}"
        follower, follower_log = start_caplin(
            tmp_path / "follower",
            FOLLOWER_PORTS,
            genesis_time,
            "--dev.run-validators=false",
            f"--sentinel.staticpeers={identity['enr']}",
        )
        processes.append(follower)
        await api_when_up(FOLLOWER_PORTS[2], "/eth/v1/node/identity", 90, follower_log)

        async def producer_has_blocks() -> bool:
            return (await head(api_port))[0] >= 3

        await poll(producer_has_blocks, 90, "three blocks on the producer")
        genesis = await api(api_port, "/eth/v1/beacon/genesis")
        genesis_root = bytes.fromhex(genesis["genesis_validators_root"][2:])
        spec = dev_chain_spec("minimal", Fork.ELECTRA, bytes(32), {"SLOT_DURATION_MS": 2000})
        digest = ForkContext(spec, genesis_root).digest_at_epoch(0)
        await _check_hostile_kinds(
            spec, genesis_root, digest, producer_id, producer_address, tmp_path
        )

        # Both nodes go on: the producer's head advances and the follower keeps it.
        start_slot, _ = await head(api_port)

        async def advanced_and_same() -> bool:
            slot, root = await head(api_port)
            return slot >= start_slot + 3 and (await head(FOLLOWER_PORTS[2]))[1] == root

        await poll(advanced_and_same, 60, "the follower to hold the producer's advancing head")
        follower_id = await _peer_id_of(FOLLOWER_PORTS[2])
        assert await peer_ids(api_port) == {follower_id}
        # The honest follower was never penalized.
        log_dir = tmp_path / "producer" / "logs"
        assert producer_verdict(log_dir, follower_id)["penalties"] == 0
    finally:
        for process in processes:
            stop_caplin(process)


async def _peer_id_of(api_port: int) -> str:
    return (await api(api_port, "/eth/v1/node/identity"))["peer_id"]


async def _check_hostile_kinds(spec, genesis_root, digest, producer, address, tmp_path):
    """Aim each kind of hostile input at the producer from its own peer; check the outcome."""
    log_dir = tmp_path / "producer" / "logs"
    verdicts = {}
    scenarios = [
        ("frames", digest, _send_bad_frames),
        ("gossip", digest, _publish_invalid_blocks),
        ("flood", digest, _flood_blocks_by_range),
    ]
    for index, (name, hostile_digest, scenario) in enumerate(scenarios):
        async with trio.open_nursery() as nursery:
            port = HOSTILE_BASE_PORT + 2 * index
            hostile = await run_hostile(nursery, spec, genesis_root, hostile_digest, port)
            with trio.fail_after(30):
                await hostile.host.dial(address)
            await scenario(hostile, producer)

            def disconnected(peer_id: str = hostile.peer_id) -> bool:
                return producer_verdict(log_dir, peer_id)["disconnect_s"] is not None

            await poll(disconnected, 20, f"the producer to disconnect the {name} peer")
            await _check_cut_off(hostile, producer, address, log_dir)
            verdicts[name] = producer_verdict(log_dir, hostile.peer_id)
            verdicts[name]["goodbye_received"] = hostile.goodbye_from(producer)
            nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        # A Status on another fork digest, sent without checking the producer's response.
        # A bare host: a Sentinel cannot build an ENR for a digest of no known fork.
        types = spec.types(Fork.ELECTRA)
        chain = MemoryChain(types.Status(fork_digest=b"\xde\xad\xbe\xef"), types.MetaData())
        forks = ForkContext(spec, genesis_root)
        config = HostConfig(tcp_port=HOSTILE_BASE_PORT + 10)
        host = SentinelHost(spec, coincurve.PrivateKey().secret, forks, chain, config)
        await nursery.start(host.run)
        info = info_from_p2p_addr(multiaddr.Multiaddr(address))
        with trio.fail_after(30):
            await host.libp2p.connect(info)
            await host.request(producer, p.STATUS_V1, chain.status())

        def goodbye() -> int | None:
            return host.peers.peer(producer).goodbye_reason

        seconds = await poll(lambda: goodbye() is not None, 20, "Goodbye")
        verdicts["status"] = producer_verdict(log_dir, host.peer_id)
        verdicts["status"]["goodbye_received"] = goodbye()
        verdicts["status"]["goodbye_s"] = round(seconds, 3)
        nursery.cancel_scope.cancel()

    print("hostile peer verdicts:", json.dumps(verdicts, indent=1))
    assert verdicts["frames"]["ban_s"] is not None, verdicts["frames"]
    gossip_faults = " ".join(verdicts["gossip"]["faults"])
    assert "gossip REJECT: invalid proposer signature" in gossip_faults, verdicts["gossip"]
    assert "gossip REJECT: invalid snappy" in gossip_faults, verdicts["gossip"]
    assert "exceeds MAX_PAYLOAD_SIZE" in gossip_faults, verdicts["gossip"]
    assert verdicts["flood"]["ban_s"] is not None, verdicts["flood"]
    assert verdicts["status"]["goodbye_received"] == GoodbyeReason.IRRELEVANT_NETWORK
    assert verdicts["status"]["penalties"] == 1, verdicts["status"]
    for name in ("frames", "gossip", "flood"):
        assert verdicts[name]["rejected_reconnects"] >= 1, (name, verdicts[name])


async def _send_bad_frames(hostile: HostileSentinel, producer: str) -> None:
    """Send garbage frames and oversized length prefixes at once on four protocols."""
    oversized = encode_varint(int(hostile.spec.MAX_PAYLOAD_SIZE) + 1) + b"\x00" * 32
    frames = [
        (p.STATUS_V1, b"\x54" + os.urandom(40)),
        (p.PING, encode_varint(8) + os.urandom(20)),
        (p.BLOCKS_BY_RANGE, oversized),
        (p.BLOCKS_BY_ROOT, oversized),
    ]
    async with trio.open_nursery() as burst:
        for protocol, data in frames:
            burst.start_soon(raw_exchange, hostile.host, producer, protocol.protocol_id, data)


async def _publish_invalid_blocks(hostile: HostileSentinel, producer: str) -> None:
    """Publish invalid blocks, a non-snappy message and an oversized one on beacon_block.

    They go out back to back, so all of them reach the producer before its Goodbye.
    """
    await hostile.sentinel.subscribe("beacon_block")
    # Wait until the producer's subscription is known, so publishing reaches it.
    topic = hostile.sentinel.topic("beacon_block")
    pubsub = hostile.sentinel.pubsub
    await poll(lambda: bool(pubsub.peer_topics.get(topic)), 20, "the producer's subscription")
    # The wall-clock slot, so the block is neither from the future nor IGNOREd as late.
    genesis = await api(PRODUCER_PORTS[2], "/eth/v1/beacon/genesis")
    slot = int((time.time() - int(genesis["genesis_time"])) * 1000) // NODE_SLOT_MS
    _, root = await head(PRODUCER_PORTS[2])
    # Two proposers, since one of them may be the slot's real proposer (an IGNORE if seen).
    for proposer_index in (1, 2):
        block = hostile.invalid_block(slot, root, proposer_index)
        await hostile.sentinel.publish("beacon_block", block)
    # A snappy block declaring 16 bytes, then a copy from an impossible offset.
    await pubsub.publish(topic, b"\x10" + b"\xff" * 8)
    # A snappy block whose length prefix exceeds MAX_PAYLOAD_SIZE.
    await pubsub.publish(topic, encode_varint(int(hostile.spec.MAX_PAYLOAD_SIZE) + 1) + b"\x00")


async def _flood_blocks_by_range(hostile: HostileSentinel, producer: str) -> None:
    """Open 40 BeaconBlocksByRange requests at once."""
    request = blocks_request_of(hostile.spec, 0, 64)
    async with trio.open_nursery() as flood:
        for _ in range(40):
            protocol_id = p.BLOCKS_BY_RANGE.protocol_id
            flood.start_soon(raw_exchange, hostile.host, producer, protocol_id, request)


async def _check_cut_off(hostile: HostileSentinel, producer: str, address: str, log_dir) -> None:
    """Check the producer no longer lists the peer and that a reconnect is rejected."""
    api_port = PRODUCER_PORTS[2]

    async def not_listed() -> bool:
        return hostile.peer_id not in await peer_ids(api_port)

    await poll(not_listed, 20, "the producer to drop the hostile peer")
    # The hostile side may hold its end of the closed connection a little longer.
    swarm = hostile.host.libp2p.get_network()
    await poll(lambda: not swarm.get_connections(ID.from_base58(producer)), 20, "the close")
    hostile.host.peers.peer(producer).goodbye_reason = None
    with pytest.raises(REJECTED_DIAL) as rejected:
        with trio.fail_after(20):
            await hostile.host.dial(address)
    print("reconnect failed with", repr(rejected.value)[:200])

    def reconnect_rejected() -> bool:
        return producer_verdict(log_dir, hostile.peer_id)["rejected_reconnects"] > 0

    await poll(reconnect_rejected, 20, "the producer to reject the reconnect")
    # The Goodbye of the rejection may be lost when the hostile's muxer is flooded.
    assert hostile.goodbye_from(producer) in (None, GoodbyeReason.BAD_SCORE, GoodbyeReason.BANNED)
    await trio.sleep(0.5)
    assert await not_listed()


def blocks_request_of(spec, start_slot: int, count: int) -> bytes:
    request_type = p.BLOCKS_BY_RANGE.request_type(spec, Fork.PHASE0)
    return encode_payload(request_type(start_slot=start_slot, count=count, step=1).encode_bytes())


# --- Request checks and penalties, without a network ------------------------------------


def range_request(protocol, spec, fork, **fields):
    return protocol.request_type(spec, fork)(**fields)


def test_validate_request_cases():
    fulu = ChainSpec.for_dev(preset="minimal", genesis_fork=Fork.FULU)
    columns = int(fulu.NUMBER_OF_COLUMNS)
    blocks = p.BLOCKS_BY_RANGE
    cases = [
        (SPEC, blocks, range_request(blocks, SPEC, Fork.PHASE0, start_slot=1, count=4, step=1)),
        (SPEC, blocks, range_request(blocks, SPEC, Fork.PHASE0, start_slot=1, count=0, step=1)),
        (SPEC, blocks, range_request(blocks, SPEC, Fork.PHASE0, start_slot=1, count=4, step=0)),
        (
            SPEC,
            blocks,
            range_request(blocks, SPEC, Fork.PHASE0, start_slot=2**64 - 1, count=2, step=1),
        ),
        (SPEC, blocks, range_request(blocks, SPEC, Fork.PHASE0, start_slot=0, count=10**6, step=1)),
        (
            fulu,
            p.COLUMNS_BY_RANGE,
            range_request(p.COLUMNS_BY_RANGE, fulu, Fork.FULU, start_slot=0, count=1, columns=[]),
        ),
        (
            fulu,
            p.COLUMNS_BY_RANGE,
            range_request(
                p.COLUMNS_BY_RANGE, fulu, Fork.FULU, start_slot=0, count=1, columns=[3, 3]
            ),
        ),
        (
            fulu,
            p.COLUMNS_BY_RANGE,
            range_request(
                p.COLUMNS_BY_RANGE, fulu, Fork.FULU, start_slot=0, count=1, columns=[0, 5]
            ),
        ),
    ]
    problems = [validate_request(spec, protocol, request) for spec, protocol, request in cases]
    assert problems[0] is None
    assert problems[1] == "count is 0"
    assert problems[2] == "step is 0, must be 1"
    assert problems[3] == f"start_slot {2**64 - 1} + count 2 exceeds the uint64 range"
    assert problems[4] is None
    assert problems[5] == "no columns requested"
    assert problems[6] == "duplicate column indices"
    assert problems[7] is None
    assert columns > 5


def test_column_index_bound():
    fulu = ChainSpec.for_dev(preset="minimal", genesis_fork=Fork.FULU)
    limit = int(fulu.NUMBER_OF_COLUMNS)
    request_type = p.COLUMNS_BY_ROOT.request_type(fulu, Fork.FULU)
    identifier_type = fulu.types(Fork.FULU).DataColumnsByRootIdentifier
    good = request_type(identifier_type(block_root=bytes(32), columns=[0, limit - 1]))
    assert validate_request(fulu, p.COLUMNS_BY_ROOT, good) is None
    # The SSZ list bound equals NUMBER_OF_COLUMNS, so only the index value can be out of range.
    bad = request_type(identifier_type(block_root=bytes(32), columns=[limit]))
    expected = f"column index {limit} is not below NUMBER_OF_COLUMNS {limit}"
    assert validate_request(fulu, p.COLUMNS_BY_ROOT, bad) == expected


def reader_of(data: bytes) -> StreamReader:
    chunks = [data]

    async def read(size: int) -> bytes:
        return chunks.pop() if chunks else b""

    return StreamReader(read)


async def test_request_penalty_by_error():
    oversized = encode_varint(int(SPEC.MAX_PAYLOAD_SIZE) + 1)
    with pytest.raises(OversizedPayload) as caught:
        await read_request(reader_of(oversized), p.PING, SPEC, Fork.PHASE0)
    assert request_penalty(caught.value) == Penalty.OVERSIZED
    with pytest.raises(CodecError) as caught:
        await read_request(reader_of(encode_varint(4)), p.PING, SPEC, Fork.PHASE0)
    assert not isinstance(caught.value, OversizedPayload)
    assert request_penalty(caught.value) == Penalty.LOW_TOLERANCE
    assert request_penalty(trio.TooSlowError()) == Penalty.FLOOD


async def test_empty_single_chunk_response_invalid():
    with pytest.raises(CodecError, match="status response ended before its one chunk"):
        await read_responses(reader_of(b""), p.STATUS_V1, SPEC, FORKS, 1)
    assert await read_responses(reader_of(b""), p.BLOCKS_BY_RANGE, SPEC, FORKS, 4) == []


async def test_goodbye_response_chunk_accepted():
    value = p.GOODBYE.response_type(SPEC, Fork.PHASE0)(1)
    chunk = encode_success(p.GOODBYE, value)
    responses = await read_responses(reader_of(chunk), p.GOODBYE, SPEC, FORKS, 0)
    assert [int(reason) for _, reason in responses] == [1]
    assert await read_responses(reader_of(b""), p.GOODBYE, SPEC, FORKS, 0) == []
    with pytest.raises(CodecError, match="more than 1 chunks"):
        await read_responses(reader_of(chunk * 2), p.GOODBYE, SPEC, FORKS, 0)
