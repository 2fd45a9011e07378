"""A caplin node process follows a Lodestar 1.5.1 dev chain, measured beside a second Lodestar.

Lodestar A runs a dev chain (devnet.sh: minimal preset, phase0 at genesis, altair at epoch 1,
bellatrix 2, capella 3, 2-second slots, 16 validators, mock execution, so it never merges).
Once A is `FOLLOW_START_SLOT` slots in, the test writes A's config and genesis from its REST
API and starts `caplin --chain=custom` with A's current ENR as its only bootnode. caplin finds
A over discv5, range-syncs to A's head, and the time it takes gives its sync speed in
slots/s. Then Lodestar B (beacon only, A's ENR as bootnode) syncs the same slots, for the
same figure. Finally the heads of caplin and A are compared once per slot for 5 epochs, and
their finalized checkpoints at the end.

Needs Lodestar installed (scripts/interop-lodestar.sh does it): CAPLIN_LODESTAR_DIR is its
install folder and CAPLIN_LODESTAR_SCRIPTS the folder with devnet.sh and stop.sh. The
variables start with CAPLIN_ because Lodestar reads every LODESTAR_* variable as a flag.
Ports: A on CAPLIN_FOLLOW_PORT_BASE (default 19100, REST +596), B on that base + 50, caplin's
Beacon API on 25500, discv5 on UDP 25510 and libp2p on TCP 25511.
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
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

LODESTAR_DIR = os.environ.get("CAPLIN_LODESTAR_DIR", "")
LODESTAR_SCRIPTS = os.environ.get(
    "CAPLIN_LODESTAR_SCRIPTS", str(Path(__file__).parents[3] / "shared/interop/lodestar")
)
PORT_A = int(os.environ.get("CAPLIN_FOLLOW_PORT_BASE", "19100"))
PORT_B = PORT_A + 50
REST_OFFSET = 596
CAPLIN_API_PORT = 25500
CAPLIN_UDP_PORT = 25510
CAPLIN_TCP_PORT = 25511
SLOT_SECONDS = 2
SLOTS_PER_EPOCH = 8
# How far A's chain runs before caplin starts: the range both followers sync.
FOLLOW_START_SLOT = int(os.environ.get("CAPLIN_FOLLOW_START_SLOT", "96"))
FOLLOW_EPOCHS = 5
SYNC_TIMEOUT_SECONDS = 300
# Heads are compared this far into each slot, after the slot's block had time to spread.
SAMPLE_OFFSET_SECONDS = 1.5

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (LODESTAR_DIR and Path(LODESTAR_DIR, "node_modules/.bin/lodestar").exists()),
        reason="Lodestar not installed: run scripts/interop-lodestar.sh (sets CAPLIN_LODESTAR_DIR)",
    ),
]


def get_json(port: int, path: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return json.load(response)


def get_data(port: int, path: str) -> dict:
    return get_json(port, path)["data"]


def head_of(port: int) -> tuple[int, str] | None:
    """Return (slot, root) of the node's head, or None while its API is not up."""
    try:
        header = get_data(port, "/eth/v1/beacon/headers/head")
    except (OSError, urllib.error.URLError, KeyError, ValueError):
        return None
    return int(header["header"]["message"]["slot"]), header["root"]


def finalized_of(port: int) -> tuple[int, str]:
    checkpoint = get_data(port, "/eth/v1/beacon/states/head/finality_checkpoints")["finalized"]
    return int(checkpoint["epoch"]), checkpoint["root"]


def wait_for_slot(port: int, slot: int, timeout: float) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        head = head_of(port)
        if head is not None and head[0] >= slot:
            return head
        time.sleep(0.2)
    raise TimeoutError(f"head on port {port} did not reach slot {slot} within {timeout} s")


@dataclass
class SyncTiming:
    """When a follower's API first responded, when its head first left genesis (the first
    imported batch, so after peer discovery), and when it reached the target slot."""

    target_slot: int
    api_up: float = 0.0
    first_block: float = 0.0
    first_slot: int = 0
    reached: float = 0.0

    @property
    def slots_per_second(self) -> float:
        """Slots per second from the API start, peer discovery included."""
        return self.target_slot / (self.reached - self.api_up)

    @property
    def import_slots_per_second(self) -> float:
        """Slots per second after the first imported batch, peer discovery excluded."""
        return (self.target_slot - self.first_slot) / max(self.reached - self.first_block, 0.1)

    def describe(self) -> str:
        return (
            f"{self.slots_per_second:.1f} slots/s from API start "
            f"({self.reached - self.api_up:.1f} s), {self.import_slots_per_second:.1f} slots/s "
            f"after the first batch (slots {self.first_slot}..{self.target_slot} in "
            f"{self.reached - self.first_block:.1f} s)"
        )


def time_sync(port: int, process: subprocess.Popen, target_slot: int, log: Path) -> SyncTiming:
    """Poll the follower's head until it reaches `target_slot`; bounded by the sync timeout."""
    timing = SyncTiming(target_slot)
    deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"follower exited with {process.returncode}:\n{tail(log)}")
        head = head_of(port)
        now = time.monotonic()
        if head is not None and not timing.api_up:
            timing.api_up = now
        if head is not None and head[0] > 0 and not timing.first_block:
            timing.first_block, timing.first_slot = now, head[0]
        if head is not None and head[0] >= target_slot:
            timing.reached = now
            return timing
        time.sleep(0.1)
    raise AssertionError(f"no sync to slot {target_slot} in {SYNC_TIMEOUT_SECONDS} s:\n{tail(log)}")


def tail(path: Path, size: int = 4000) -> str:
    return path.read_text(errors="replace")[-size:] if path.exists() else ""


def write_custom_chain(directory: Path) -> tuple[Path, Path]:
    """Write A's config (from /eth/v1/config/spec) and SSZ genesis state into `directory`."""
    config = directory / "config.yaml"
    config.write_text(yaml.safe_dump(get_data(PORT_A + REST_OFFSET, "/eth/v1/config/spec")))
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT_A + REST_OFFSET}/eth/v2/debug/beacon/states/genesis",
        headers={"Accept": "application/octet-stream"},
    )
    genesis = directory / "genesis.ssz"
    with urllib.request.urlopen(request, timeout=10) as response:
        genesis.write_bytes(response.read())
    return config, genesis


def start_caplin(datadir: Path, config: Path, genesis: Path, bootnode: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        "--chain=custom",
        f"--custom-config={config}",
        f"--custom-genesis={genesis}",
        f"--datadir={datadir}",
        f"--sentinel.bootnodes={bootnode}",
        "--caplin.discovery.addr=127.0.0.1",
        f"--caplin.discovery.port={CAPLIN_UDP_PORT}",
        f"--caplin.discovery.tcpport={CAPLIN_TCP_PORT}",
        "--beacon.api.addr=127.0.0.1",
        f"--beacon.api.port={CAPLIN_API_PORT}",
        "--http=false",
    ]
    log = open(datadir.parent / "caplin.log", "wb")
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def start_lodestar_b(datadir: Path, genesis: Path, bootnode: str) -> subprocess.Popen:
    """Start a beacon-only Lodestar with the dev chain's parameters and A as bootnode."""
    entry = Path(LODESTAR_DIR, "node_modules/@chainsafe/lodestar/lib/index.js")
    command = [
        "node", str(entry), "beacon",
        "--network", "dev",
        "--dataDir", str(datadir),
        "--genesisStateFile", str(genesis),
        "--params.SECONDS_PER_SLOT", str(SLOT_SECONDS),
        "--params.ALTAIR_FORK_EPOCH", "1",
        "--params.BELLATRIX_FORK_EPOCH", "2",
        "--params.CAPELLA_FORK_EPOCH", "3",
        "--execution.engineMock", "--eth1", "false",
        "--listenAddress", "127.0.0.1", "--port", str(PORT_B), "--discv5", "true",
        "--discoveryPort", str(PORT_B),
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


def stop_process(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Agreement:
    """Per-slot head comparison of caplin against Lodestar A."""

    samples: int = 0
    matches: int = 0
    mismatched_slots: list[int] = field(default_factory=list)
    longest_mismatch_run: int = 0

    def record(self, slot: int, same: bool) -> None:
        self.samples += 1
        if same:
            self.matches += 1
            self._run = 0
            return
        self.mismatched_slots.append(slot)
        self._run = getattr(self, "_run", 0) + 1
        self.longest_mismatch_run = max(self.longest_mismatch_run, self._run)


def compare_heads(genesis_time: int, epochs: int) -> Agreement:
    """Compare caplin's and A's head roots once per slot, `SAMPLE_OFFSET_SECONDS` in."""
    agreement = Agreement()
    first_slot = (int(time.time()) - genesis_time) // SLOT_SECONDS + 1
    for slot in range(first_slot, first_slot + epochs * SLOTS_PER_EPOCH):
        delay = genesis_time + slot * SLOT_SECONDS + SAMPLE_OFFSET_SECONDS - time.time()
        if delay > 0:
            time.sleep(delay)
        lodestar, caplin = head_of(PORT_A + REST_OFFSET), head_of(CAPLIN_API_PORT)
        same = lodestar is not None and lodestar == caplin
        if not same:
            # One slot of lag is allowed: a block that arrived late counts once it is imported.
            time.sleep(SLOT_SECONDS / 4)
            caplin = head_of(CAPLIN_API_PORT)
            same = lodestar is not None and caplin is not None and caplin[1] == lodestar[1]
        agreement.record(slot, same)
    return agreement


@pytest.fixture
def workdir():
    """A directory for the nodes' data and logs; the caplin log is also copied out."""
    directory = Path(tempfile.mkdtemp(prefix="caplin-follow-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_caplin_follows_lodestar_chain(workdir):
    scripts = Path(LODESTAR_SCRIPTS)
    a_dir, b_dir, caplin_dir = workdir / "lodestar-a", workdir / "lodestar-b", workdir / "caplin"
    b_dir.mkdir()
    caplin_log = workdir / "caplin.log"
    caplin: subprocess.Popen | None = None
    lodestar_b: subprocess.Popen | None = None
    subprocess.run(
        ["bash", scripts / "devnet.sh", LODESTAR_DIR, a_dir, str(PORT_A)], check=True, timeout=150
    )
    try:
        genesis_time = int(get_data(PORT_A + REST_OFFSET, "/eth/v1/beacon/genesis")["genesis_time"])
        wait_for_slot(PORT_A + REST_OFFSET, FOLLOW_START_SLOT, FOLLOW_START_SLOT * 2 + 90)
        config, genesis = write_custom_chain(workdir)
        # enr.txt is A's record at its start, whose `eth2` still has the phase0 fork digest.
        bootnode = get_data(PORT_A + REST_OFFSET, "/eth/v1/node/identity")["enr"]
        target_slot, _ = head_of(PORT_A + REST_OFFSET)

        caplin = start_caplin(caplin_dir, config, genesis, bootnode)
        caplin_sync = time_sync(CAPLIN_API_PORT, caplin, target_slot, caplin_log)
        lodestar_b = start_lodestar_b(b_dir, genesis, bootnode)
        b_sync = time_sync(PORT_B + REST_OFFSET, lodestar_b, target_slot, b_dir / "lodestar.log")
        print(f"\nsync of slots 1..{target_slot}: caplin {caplin_sync.describe()}")
        print(f"sync of slots 1..{target_slot}: Lodestar {b_sync.describe()}")
        stop_process(lodestar_b)

        agreement = compare_heads(genesis_time, FOLLOW_EPOCHS)
        caplin_finalized = finalized_of(CAPLIN_API_PORT)
        lodestar_finalized = finalized_of(PORT_A + REST_OFFSET)
        if caplin_finalized != lodestar_finalized:
            # A new epoch may have finalized on one side a moment earlier.
            time.sleep(SLOT_SECONDS)
            caplin_finalized = finalized_of(CAPLIN_API_PORT)
            lodestar_finalized = finalized_of(PORT_A + REST_OFFSET)
        print(
            f"head agreement over {FOLLOW_EPOCHS} epochs: {agreement.matches}/{agreement.samples} "
            f"slots, mismatched slots {agreement.mismatched_slots}; finalized epoch caplin "
            f"{caplin_finalized[0]}, Lodestar {lodestar_finalized[0]}"
        )

        syncing = get_data(CAPLIN_API_PORT, "/eth/v1/node/syncing")
        peers = get_data(CAPLIN_API_PORT, "/eth/v1/node/peers")
        peer_count = get_data(CAPLIN_API_PORT, "/eth/v1/node/peer_count")
        peer_a = (a_dir / "multiaddr.txt").read_text().strip().rsplit("/", 1)[1]
        print(f"caplin syncing={syncing} peer_count={peer_count} peers={peers}")
    finally:
        stop_process(caplin)
        stop_process(lodestar_b)
        subprocess.run(["bash", scripts / "stop.sh", a_dir], check=False, timeout=60)

    kept = Path(tempfile.gettempdir()) / "caplin-follow-last.log"
    shutil.copyfile(caplin_log, kept)
    print(f"caplin log copied to {kept}")
    assert caplin_sync.slots_per_second > 0
    assert agreement.longest_mismatch_run <= 1, (agreement.mismatched_slots, tail(caplin_log))
    assert caplin_finalized == lodestar_finalized
    assert syncing["is_syncing"] is False
    assert int(syncing["sync_distance"]) <= 1
    assert int(peer_count["connected"]) >= 1
    connected = {peer["peer_id"]: peer for peer in peers if peer["state"] == "connected"}
    assert peer_a in connected
    assert connected[peer_a]["direction"] in ("inbound", "outbound")
    assert connected[peer_a]["last_seen_p2p_address"].startswith("/ip4/127.0.0.1/tcp/")
