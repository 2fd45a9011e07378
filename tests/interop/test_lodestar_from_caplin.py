"""A Lodestar 1.5.1 node syncs a chain from caplin alone, on loopback.

Lodestar A runs a dev chain (devnet.sh: phase0 at genesis, altair at epoch 1, bellatrix 2,
capella 3, 2-second slots). A caplin Sentinel downloads A's whole chain with
BeaconBlocksByRange into a `MemoryChain` (in the second test, a caplin node process started
with `--chain=custom` syncs and follows it), then A is stopped. Lodestar B starts from the same
genesis with caplin's ENR as its only bootnode, so every block it imports came through
caplin's discv5, noise, mplex and req/resp (Status, MetaData, Ping, BeaconBlocksByRange v2,
BeaconBlocksByRoot v2). The test passes once B's head root is caplin's head root.

Needs Lodestar installed (scripts/interop-lodestar.sh does it): CAPLIN_LODESTAR_DIR is its
install folder and CAPLIN_LODESTAR_SCRIPTS the folder with devnet.sh and stop.sh. The
variables start with CAPLIN_ because Lodestar reads every LODESTAR_* variable as a flag.
Ports: Lodestar A on CAPLIN_SERVE_PORT_BASE (default 19300, REST +596), B on that base + 50,
caplin on UDP and TCP 25600 and 25601.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import coincurve
import pytest
import trio

from caplin.config import ChainSpec
from caplin.config.forks import Fork
from sentinel.memory_chain import MemoryChain
from sentinel.reqresp.protocols import ForkContext
from sentinel.service import Sentinel, SentinelConfig

LODESTAR_DIR = os.environ.get("CAPLIN_LODESTAR_DIR", "")
LODESTAR_SCRIPTS = os.environ.get(
    "CAPLIN_LODESTAR_SCRIPTS", str(Path(__file__).parents[3] / "shared/interop/lodestar")
)
PORT_A = int(os.environ.get("CAPLIN_SERVE_PORT_BASE", "19300"))
PORT_B = PORT_A + 50
REST_OFFSET = 596
CAPLIN_UDP_PORT = 25600
CAPLIN_TCP_PORT = 25601
CAPLIN_NODE_UDP_PORT = 25610
CAPLIN_NODE_TCP_PORT = 25611
CAPLIN_NODE_API_PORT = 25612
# Slot A must reach before caplin copies its chain: two epochs into capella (epoch 3).
TARGET_SLOT = int(os.environ.get("CAPLIN_SERVE_TARGET_SLOT", "40"))
DOWNLOAD_BATCH = 64
SYNC_TIMEOUT_SECONDS = 240

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (LODESTAR_DIR and Path(LODESTAR_DIR, "node_modules/.bin/lodestar").exists()),
        reason="Lodestar not installed: run scripts/interop-lodestar.sh (sets CAPLIN_LODESTAR_DIR)",
    ),
]


class RecordingChain(MemoryChain):
    """A `MemoryChain` that records when and how many blocks it served by range and root."""

    def __init__(self, status, metadata) -> None:
        super().__init__(status, metadata)
        self.range_requests = 0
        self.root_requests = 0
        self.blocks_served = 0
        self.first_request_at: float | None = None
        self.last_request_at: float | None = None

    def _record(self) -> None:
        now = time.monotonic()
        if self.first_request_at is None:
            self.first_request_at = now
        self.last_request_at = now

    def blocks_by_range(self, start_slot: int, count: int):
        self.range_requests += 1
        self._record()
        for block in super().blocks_by_range(start_slot, count):
            self.blocks_served += 1
            yield block

    def blocks_by_root(self, roots: list[bytes]):
        self.root_requests += 1
        self._record()
        for block in super().blocks_by_root(roots):
            self.blocks_served += 1
            yield block


def rest(port: int, path: str) -> dict:
    url = f"http://127.0.0.1:{port + REST_OFFSET}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


def current_enr(port: int) -> str:
    # devnet.sh's enr.txt is the record of A's start, with the phase0 fork digest in `eth2`.
    return rest(port, "/eth/v1/node/identity")["enr"]


def chain_spec(port: int) -> ChainSpec:
    # Lodestar 1.5.1 also reports preset values of its own era; keep only config keys.
    config_keys = set(ChainSpec.for_preset("minimal").config)
    values = {key: value for key, value in rest(port, "/eth/v1/config/spec").items()}
    return ChainSpec.from_config(
        {key: value for key, value in values.items() if key in config_keys}, preset="minimal"
    )


def wait_for_head(port: int, slot: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        header = rest(port, "/eth/v1/beacon/headers/head")
        if int(header["header"]["message"]["slot"]) >= slot:
            return header
        time.sleep(1)
    raise TimeoutError(f"Lodestar head on port {port} did not reach slot {slot} in {timeout}s")


@pytest.fixture
def lodestar_a():
    datadir = Path(tempfile.mkdtemp(prefix="caplin-serve-a-"))
    scripts = Path(LODESTAR_SCRIPTS)
    subprocess.run(
        ["bash", scripts / "devnet.sh", LODESTAR_DIR, datadir, str(PORT_A)],
        check=True,
        timeout=150,
    )
    try:
        yield datadir
    finally:
        stop_lodestar_a(datadir)
        shutil.rmtree(datadir, ignore_errors=True)


def stop_lodestar_a(datadir: Path) -> None:
    if (datadir / "lodestar.pid").exists():
        subprocess.run(
            ["bash", Path(LODESTAR_SCRIPTS) / "stop.sh", datadir], check=False, timeout=60
        )


def start_lodestar_b(datadir: Path, genesis_file: Path, bootnode: str) -> subprocess.Popen:
    """Start a beacon-only Lodestar with the dev chain's parameters and one bootnode."""
    entry = Path(LODESTAR_DIR, "node_modules/@chainsafe/lodestar/lib/index.js")
    command = [
        "node", str(entry), "beacon",
        "--network", "dev",
        "--dataDir", str(datadir),
        "--genesisStateFile", str(genesis_file),
        "--params.SECONDS_PER_SLOT", "2",
        "--params.ALTAIR_FORK_EPOCH", "1",
        "--params.BELLATRIX_FORK_EPOCH", "2",
        "--params.CAPELLA_FORK_EPOCH", "3",
        "--execution.engineMock", "--eth1", "false",
        "--listenAddress", "127.0.0.1", "--port", str(PORT_B), "--discv5", "true",
        "--enr.ip", "127.0.0.1", "--enr.tcp", str(PORT_B), "--enr.udp", str(PORT_B),
        "--bootnodes", bootnode,
        "--rest", "--rest.address", "127.0.0.1", "--rest.port", str(PORT_B + REST_OFFSET),
        "--rest.namespace", "*",
        "--logLevel", "info", "--logFile", "none",
    ]  # fmt: skip
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("LODESTAR_")
    }
    log = open(datadir / "lodestar.log", "wb")
    return subprocess.Popen(
        command,
        cwd=datadir,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def b_head() -> tuple[int, bytes] | None:
    try:
        header = rest(PORT_B, "/eth/v1/beacon/headers/head")
    except (OSError, urllib.error.URLError, KeyError):
        return None
    return int(header["header"]["message"]["slot"]), bytes.fromhex(header["root"][2:])


async def copy_chain(sentinel: Sentinel, peer_id: str, head_slot: int) -> list:
    blocks = []
    for start in range(1, head_slot + 1, DOWNLOAD_BATCH):
        count = min(DOWNLOAD_BATCH, head_slot + 1 - start)
        blocks += await sentinel.host.blocks_by_range(peer_id, start, count)
    return blocks


async def wait_for_peer(sentinel: Sentinel, peer_id: str, timeout: float) -> None:
    with trio.fail_after(timeout):
        while peer_id not in sentinel.host.peers.connected:
            await trio.sleep(0.1)


def sync_lodestar_b(
    genesis_file: Path, bootnode: str, reached: Callable[[int, bytes], bool]
) -> dict:
    """Start Lodestar B with one bootnode, wait until `reached(head_slot, head_root)`, stop it.

    Returns B's syncing status, finality checkpoints and peer count at that moment, and the
    monotonic times of its start, of its first block past genesis and of reaching the target.
    """
    datadir = Path(tempfile.mkdtemp(prefix="caplin-serve-b-"))
    results: dict = {"started": time.monotonic()}
    process = start_lodestar_b(datadir, genesis_file, bootnode)
    try:
        deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
        while True:
            assert process.poll() is None, "Lodestar B exited"
            seen = b_head()
            if seen is not None and seen[0] > 0:
                results.setdefault("first_block", time.monotonic())
            if seen is not None and reached(*seen):
                break
            assert time.monotonic() < deadline, f"B's head {seen} did not reach the target"
            time.sleep(0.2)
        results["finished"] = time.monotonic()
        results["syncing"] = rest(PORT_B, "/eth/v1/node/syncing")
        results["finality"] = rest(PORT_B, "/eth/v1/beacon/states/head/finality_checkpoints")
        results["peers"] = rest(PORT_B, "/eth/v1/node/peer_count")
    finally:
        stop_process(process)
        log_b = datadir / "lodestar.log"
        if log_b.exists():
            tail = log_b.read_text(errors="replace").splitlines()[-15:]
            print("\n---- Lodestar B log tail ----\n" + "\n".join(tail))
        shutil.rmtree(datadir, ignore_errors=True)
    return results


def check_b_results(results: dict, head_slot: int, finalized: dict) -> None:
    assert int(results["syncing"]["head_slot"]) == head_slot
    # NOTE: is_syncing is not checked. The chain stopped with A, so once B's clock runs more
    # than its import tolerance past the head, Lodestar reports syncing ("Searching peers").
    assert results["finality"]["finalized"] == finalized
    # Caplin is B's only peer: A is stopped, and B had only caplin's ENR.
    assert int(results["peers"]["connected"]) == 1


def test_lodestar_syncs_from_caplin(lodestar_a):
    spec = chain_spec(PORT_A)
    genesis = rest(PORT_A, "/eth/v1/beacon/genesis")
    genesis_root = bytes.fromhex(genesis["genesis_validators_root"][2:])
    genesis_time = int(genesis["genesis_time"])
    forks = ForkContext(spec, genesis_root)
    head = wait_for_head(PORT_A, TARGET_SLOT, timeout=TARGET_SLOT * 2 + 90)
    head_slot = int(head["header"]["message"]["slot"])
    head_root = bytes.fromhex(head["root"][2:])
    finalized = rest(PORT_A, "/eth/v1/beacon/states/head/finality_checkpoints")["finalized"]
    genesis_file = lodestar_a / "genesis.ssz"

    def current_slot() -> int:
        return (int(time.time()) - genesis_time) // int(spec.SECONDS_PER_SLOT)

    status_type = spec.types(Fork.PHASE0).Status
    chain = RecordingChain(
        status_type(fork_digest=forks.digest_at_slot(current_slot())),
        spec.types(Fork.ALTAIR).MetaData(seq_number=1),
    )
    config = SentinelConfig(
        udp_port=CAPLIN_UDP_PORT,
        tcp_port=CAPLIN_TCP_PORT,
        bootnodes=[current_enr(PORT_A)],
        target_peers=1,
        muxers=("mplex",),
    )
    sentinel = Sentinel(spec, coincurve.PrivateKey().secret, genesis_root, chain, config)
    peer_a = (lodestar_a / "multiaddr.txt").read_text().strip().rsplit("/", 1)[1]
    results: dict = {}

    async def run() -> None:
        async with trio.open_nursery() as nursery:
            record = await nursery.start(sentinel.run)
            await wait_for_peer(sentinel, peer_a, timeout=60)
            with trio.fail_after(60):
                blocks = await copy_chain(sentinel, peer_a, head_slot)
            for block in blocks:
                chain.add_block(block)
            assert bytes(blocks[-1].message.hash_tree_root()) == head_root
            chain.set_status(
                status_type(
                    fork_digest=forks.digest_at_slot(current_slot()),
                    finalized_root=bytes.fromhex(finalized["root"][2:]),
                    finalized_epoch=int(finalized["epoch"]),
                    head_root=head_root,
                    head_slot=head_slot,
                )
            )
            results["blocks"] = len(blocks)
            await trio.to_thread.run_sync(stop_lodestar_a, lodestar_a)
            results.update(
                await trio.to_thread.run_sync(
                    sync_lodestar_b,
                    genesis_file,
                    record.to_text(),
                    lambda slot, root: root == head_root,
                )
            )
            nursery.cancel_scope.cancel()

    trio.run(run)

    check_b_results(results, head_slot, finalized)
    assert chain.range_requests > 0
    assert chain.blocks_served >= results["blocks"]
    # From caplin's first BlocksByRange or BlocksByRoot request to B's head reaching ours.
    sync_seconds = results["finished"] - chain.first_request_at
    rate = results["blocks"] / sync_seconds
    total_seconds = results["finished"] - results["started"]
    print(
        f"\nLodestar B synced {results['blocks']} blocks (slots 1..{head_slot}) from caplin "
        f"in {sync_seconds:.2f}s = {rate:.1f} blocks/s, {total_seconds:.1f}s from its start; "
        f"requests by range={chain.range_requests} by root={chain.root_requests}, "
        f"blocks served={chain.blocks_served}; syncing={results['syncing']}"
    )


def caplin_has_custom_chain() -> bool:
    output = subprocess.run(
        [sys.executable, "-m", "caplin.cli", "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    return "--custom-config" in output


def caplin_rest(path: str) -> dict:
    url = f"http://127.0.0.1:{CAPLIN_NODE_API_PORT}{path}"
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)["data"]


def caplin_head() -> tuple[int, bytes] | None:
    try:
        header = caplin_rest("/eth/v1/beacon/headers/head")
    except (OSError, urllib.error.URLError, KeyError):
        return None
    return int(header["header"]["message"]["slot"]), bytes.fromhex(header["root"][2:])


def start_caplin_node(datadir: Path, config_file: Path, genesis_file: Path, bootnode: str):
    command = [
        sys.executable, "-m", "caplin.cli",
        "--chain=custom",
        f"--custom-config={config_file}",
        f"--custom-genesis={genesis_file}",
        f"--datadir={datadir}",
        "--caplin.discovery.addr=127.0.0.1",
        f"--caplin.discovery.port={CAPLIN_NODE_UDP_PORT}",
        f"--caplin.discovery.tcpport={CAPLIN_NODE_TCP_PORT}",
        f"--sentinel.bootnodes={bootnode}",
        "--beacon.api.addr=127.0.0.1",
        f"--beacon.api.port={CAPLIN_NODE_API_PORT}",
        "--http=false",
    ]  # fmt: skip
    log = open(datadir.parent / "caplin.log", "wb")
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def test_lodestar_syncs_from_caplin_node(lodestar_a, tmp_path):
    if not caplin_has_custom_chain():
        pytest.skip("caplin has no --chain=custom yet")
    head = wait_for_head(PORT_A, TARGET_SLOT, timeout=TARGET_SLOT * 2 + 90)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(json.dumps(rest(PORT_A, "/eth/v1/config/spec")))
    genesis_file = lodestar_a / "genesis.ssz"
    bootnode = current_enr(PORT_A)
    node = start_caplin_node(tmp_path / "caplin", config_file, genesis_file, bootnode)
    try:
        # Caplin range-syncs A's chain, then follows it by gossip until A stops.
        deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
        while (seen := caplin_head()) is None or seen[0] < int(head["header"]["message"]["slot"]):
            assert node.poll() is None, "caplin exited"
            assert time.monotonic() < deadline, f"caplin's head {seen} did not reach A's"
            time.sleep(0.5)
        stop_lodestar_a(lodestar_a)
        time.sleep(2)
        head_slot, head_root = caplin_head()
        finalized = caplin_rest("/eth/v1/beacon/states/head/finality_checkpoints")["finalized"]
        enr = caplin_rest("/eth/v1/node/identity")["enr"]
        results = sync_lodestar_b(genesis_file, enr, lambda slot, root: root == head_root)
    finally:
        stop_process(node)
        log = tmp_path / "caplin.log"
        if log.exists():
            print("\n---- caplin log tail ----\n" + "\n".join(log.read_text().splitlines()[-15:]))

    check_b_results(results, head_slot, finalized)
    # From B's first imported block (polled every 0.2 s) to its head reaching caplin's.
    sync_seconds = results["finished"] - results["first_block"]
    print(
        f"\nLodestar B synced slots 1..{head_slot} from the caplin node in {sync_seconds:.1f}s "
        f"= {head_slot / sync_seconds:.1f} slots/s "
        f"({results['finished'] - results['started']:.1f}s from its start); "
        f"caplin finalized={finalized}; syncing={results['syncing']}"
    )
