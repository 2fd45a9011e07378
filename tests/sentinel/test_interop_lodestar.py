"""Live interop with a Lodestar 1.5.1 dev chain on loopback.

Needs Lodestar installed (scripts/interop-lodestar.sh does it): set
CAPLIN_LODESTAR_DIR to its install folder and CAPLIN_LODESTAR_SCRIPTS to the folder with its
devnet.sh and stop.sh. With CAPLIN_LODESTAR_DATADIR pointing at an already running dev
chain, the test uses it instead of starting one. The variables start with CAPLIN_
because Lodestar reads every LODESTAR_* variable as a command-line flag.
"""

import json
import os
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import coincurve
import pytest
import trio

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from sentinel.discv5.service import Discv5Service
from sentinel.enr import ENR
from sentinel.gossip import GossipTopic
from sentinel.gossip.topics import decompress_payload
from sentinel.gossipsub import EthereumPubsub
from sentinel.host import HostConfig, SentinelHost, enr_multiaddr
from sentinel.memory_chain import MemoryChain
from sentinel.reqresp.protocols import ForkContext
from sentinel.service import Sentinel, SentinelConfig

LODESTAR_DIR = os.environ.get("CAPLIN_LODESTAR_DIR", "")
LODESTAR_SCRIPTS = os.environ.get("CAPLIN_LODESTAR_SCRIPTS", "")
PORT_BASE = int(os.environ.get("CAPLIN_LODESTAR_PORT_BASE", "19700"))
MIN_BLOCKS = 16

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (LODESTAR_DIR and Path(LODESTAR_DIR, "node_modules/.bin/lodestar").exists()),
        reason="Lodestar not installed: run scripts/interop-lodestar.sh (sets CAPLIN_LODESTAR_DIR)",
    ),
]


@pytest.fixture(scope="module")
def devnet():
    running = os.environ.get("CAPLIN_LODESTAR_DATADIR")
    if running:
        yield Path(running)
        return
    datadir = Path(tempfile.mkdtemp(prefix="caplin-lodestar-"))
    scripts = Path(LODESTAR_SCRIPTS)
    subprocess.run(
        ["bash", scripts / "devnet.sh", LODESTAR_DIR, datadir, str(PORT_BASE)],
        check=True,
        timeout=150,
    )
    try:
        yield datadir
    finally:
        subprocess.run(["bash", scripts / "stop.sh", datadir], check=False, timeout=60)


def rest(path: str) -> dict:
    url = f"http://127.0.0.1:{PORT_BASE + 596}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


def chain_spec() -> ChainSpec:
    # Lodestar 1.5.1 also reports preset values of its own era; keep only config keys.
    config_keys = set(ChainSpec.for_preset("minimal").config)
    values = {
        key: value for key, value in rest("/eth/v1/config/spec").items() if key in config_keys
    }
    return ChainSpec.from_config(values, preset="minimal")


def wait_for_head(slot: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = int(rest("/eth/v1/beacon/headers/head")["header"]["message"]["slot"])
        if head >= slot:
            return head
        time.sleep(1)
    raise TimeoutError(f"Lodestar head did not reach slot {slot} in {timeout}s")


async def test_lodestar_discovery_and_block_download(devnet):
    spec = chain_spec()
    genesis = rest("/eth/v1/beacon/genesis")
    genesis_root = bytes.fromhex(genesis["genesis_validators_root"][2:])
    forks = ForkContext(spec, genesis_root)
    lodestar = ENR.from_text((devnet / "enr.txt").read_text())
    assert lodestar.eth2 is not None
    assert lodestar.eth2.fork_digest in forks.forks
    head_slot = wait_for_head(MIN_BLOCKS)

    current_slot = (int(time.time()) - int(genesis["genesis_time"])) // int(spec.SECONDS_PER_SLOT)
    types = spec.types(Fork.PHASE0)
    status = types.Status(fork_digest=forks.digest_at_slot(current_slot))
    chain = MemoryChain(status, spec.types(Fork.ALTAIR).MetaData(seq_number=1))
    key = coincurve.PrivateKey().secret

    async with trio.open_nursery() as nursery:
        discovery = Discv5Service(key, ENR.create(key, ip="127.0.0.1", udp=0))
        udp_port = await nursery.start(discovery.run)
        discovery.update_record(udp=udp_port)
        host = SentinelHost(spec, key, forks, chain, HostConfig(muxers=("mplex",)))
        await nursery.start(host.run)
        pubsub = EthereumPubsub(host.libp2p, spec, forks)
        await nursery.start(pubsub.run_service)
        block_topic = str(GossipTopic(status.fork_digest, "beacon_block"))
        gossip_blocks = await pubsub.subscribe_topic(block_topic)

        with trio.fail_after(120):
            started = time.monotonic()
            discovery.add_node(lodestar)
            await discovery.ping(lodestar)
            found = await discovery.find_node(lodestar, [0])
            found_seconds = time.monotonic() - started
            assert [record.node_id for record in found] == [lodestar.node_id]

            peer = await host.dial(enr_multiaddr(found[0]))
            remote_status = host.peers.peer(peer).status
            assert int(remote_status.head_slot) >= head_slot
            assert await host.ping(peer) >= 0
            metadata = await host.metadata(peer)
            assert len(metadata.attnets) == 64

            started = time.monotonic()
            blocks = await host.blocks_by_range(peer, 1, head_slot)
            download_seconds = time.monotonic() - started
            slots = [int(block.message.slot) for block in blocks]
            assert slots == sorted(slots)
            assert len(blocks) >= MIN_BLOCKS // 2
            for block in blocks:
                fork = spec.fork_at_epoch(int(block.message.slot) // int(spec.SLOTS_PER_EPOCH))
                assert spec.fork_of(block) == fork
            parents = {bytes(b.message.hash_tree_root()): b for b in blocks}
            linked = sum(bytes(b.message.parent_root) in parents for b in blocks)
            assert linked >= len(blocks) - 1

            # Lodestar proposes every 2 s slot, so a gossip block arrives within a few slots.
            message = await gossip_blocks.receive()
            fork = forks.fork_of_digest(status.fork_digest)
            payload = decompress_payload(spec, bytes(message.data))
            gossip_block = spec.types(fork).SignedBeaconBlock.decode_bytes(payload)
            assert int(gossip_block.message.slot) > slots[0]
            assert message.from_id == b""

        print(
            f"\nlodestar interop: peer found in {found_seconds:.3f}s, "
            f"{len(blocks)} blocks (slots {slots[0]}..{slots[-1]}) in {download_seconds:.3f}s "
            f"= {len(blocks) / download_seconds:.1f} blocks/s, "
            f"gossip block at slot {int(gossip_block.message.slot)}"
        )
        nursery.cancel_scope.cancel()


async def test_sentinel_joins_lodestar_from_bootnode(devnet):
    spec = chain_spec()
    genesis = rest("/eth/v1/beacon/genesis")
    genesis_root = bytes.fromhex(genesis["genesis_validators_root"][2:])
    forks = ForkContext(spec, genesis_root)
    current_slot = (int(time.time()) - int(genesis["genesis_time"])) // int(spec.SECONDS_PER_SLOT)
    status = spec.types(Fork.PHASE0).Status(fork_digest=forks.digest_at_slot(current_slot))
    chain = MemoryChain(status, spec.types(Fork.ALTAIR).MetaData(seq_number=1))
    config = SentinelConfig(
        udp_port=0,
        tcp_port=0,
        bootnodes=[(devnet / "enr.txt").read_text().strip()],
        target_peers=1,
        muxers=("mplex",),
    )
    sentinel = Sentinel(spec, coincurve.PrivateKey().secret, genesis_root, chain, config)
    lodestar_peer = (devnet / "multiaddr.txt").read_text().strip().rsplit("/", 1)[1]

    async with trio.open_nursery() as nursery:
        started = time.monotonic()
        await nursery.start(sentinel.run)
        blocks = await sentinel.subscribe("beacon_block")
        with trio.fail_after(60):
            while lodestar_peer not in sentinel.host.peers.connected:
                await trio.sleep(0.05)
            connected_seconds = time.monotonic() - started
            message = await blocks.receive()
        assert len(message.data) > 0
        print(f"\nsentinel joined Lodestar from its bootnode ENR in {connected_seconds:.3f}s")
        nursery.cancel_scope.cancel()
