"""Archive mode end to end: every finalized state through the Beacon API, restarts, kill -9.

The in-process tests drive a dev chain slot by slot (genesis in the past, no waiting) past
finality while recording each slot's state, then read every slot back through the API app.
"""

import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import trio

from beacon_api.server import create_app
from caplin.config.forks import Fork
from caplin.errors import StorageError
from caplin.node.node import Node, NodeConfig
from caplin.node.reader import NodeChainReader
from caplin.node.setup import DevParameters, open_dev_chain
from caplin.transition.slot import process_slots
from caplin.validator.client import ValidatorClient
from tests.node.devnet import SLOT_SECONDS, drive

# With the skipped slots below, epoch 5 (block slot 40) is finalized by slot 60: states up to
# slot 40 come from the archive, later ones from fork choice.
SLOTS = 60
# Slots without a block, so the archive also rebuilds empty-slot states.
SKIPPED = {9, 10, 23, 31}


@dataclass(frozen=True)
class Recorded:
    """What a slot's state looked like while the chain ran."""

    state_root: str
    finalized: tuple[str, str]
    current_justified: tuple[str, str]
    balances: list[str]


def record(state) -> Recorded:
    def checkpoint(value) -> tuple[str, str]:
        return str(int(value.epoch)), "0x" + bytes(value.root).hex()

    return Recorded(
        state_root="0x" + bytes(state.hash_tree_root()).hex(),
        finalized=checkpoint(state.finalized_checkpoint),
        current_justified=checkpoint(state.current_justified_checkpoint),
        balances=[str(int(balance)) for balance in state.balances],
    )


def open_chain(datadir: Path, archive: bool, slots: int = SLOTS):
    genesis_time = int(time.time()) - SLOT_SECONDS * (slots + 1)
    return open_dev_chain(datadir, DevParameters(), genesis_time=genesis_time, archive=archive)


def run_recorded(datadir: Path, archive: bool, slots: int = SLOTS) -> tuple[object, dict]:
    """Drive a chain through `slots` slots, skipping `SKIPPED`, recording every slot."""
    dev = open_chain(datadir, archive, slots)
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    recorded = {0: record(dev.chain.snapshot.head_state)}
    for slot in range(1, slots + 1):
        if slot in SKIPPED:
            client.attest(slot)
            client.aggregate(slot)
            dev.chain.update_head()
            client.prepare(slot + 1)
            state = process_slots(dev.spec, dev.chain.snapshot.head_state.copy(), slot)
        else:
            drive(dev, client, slot, slot)
            state = dev.chain.snapshot.head_state
            assert int(state.slot) == slot, f"slot {slot} has no block at the head"
        recorded[slot] = record(state)
    return dev, recorded


def reader_for(dev) -> NodeChainReader:
    # Each Node opens slashing protection under its own datadir, so give each one a new one.
    datadir = Path(tempfile.mkdtemp(prefix="archive-reader-"))
    return NodeChainReader(Node(NodeConfig(datadir=datadir), dev))


def fetch_all(reader: NodeChainReader, paths: list[str]) -> dict[str, httpx.Response]:
    """GET every path from the Beacon API app of `reader`, in one trio run."""
    responses: dict[str, httpx.Response] = {}

    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(reader))
        async with httpx.AsyncClient(transport=transport, base_url="http://caplin") as client:
            for path in paths:
                responses[path] = await client.get(path)

    trio.run(main)
    return responses


def slot_paths(slot: int) -> list[str]:
    base = f"/eth/v1/beacon/states/{slot}"
    return [f"{base}/root", f"{base}/finality_checkpoints", f"{base}/validator_balances"]


def check_slots(reader: NodeChainReader, recorded: dict, slots) -> None:
    """Assert that the API returns the recorded root, checkpoints and balances per slot."""
    paths = [path for slot in slots for path in slot_paths(slot)]
    responses = fetch_all(reader, paths)
    for slot in slots:
        expected = recorded[slot]
        root, checkpoints, balances = (responses[path] for path in slot_paths(slot))
        assert root.status_code == 200, f"slot {slot}: {root.text}"
        assert root.json()["data"]["root"] == expected.state_root, f"slot {slot} state root"
        data = checkpoints.json()["data"]
        finalized = (data["finalized"]["epoch"], data["finalized"]["root"])
        justified = (data["current_justified"]["epoch"], data["current_justified"]["root"])
        assert finalized == expected.finalized, f"slot {slot} finalized checkpoint"
        assert justified == expected.current_justified, f"slot {slot} justified checkpoint"
        amounts = [item["balance"] for item in balances.json()["data"]]
        assert amounts == expected.balances, f"slot {slot} balances"


@pytest.fixture(scope="module")
def archive_chain(tmp_path_factory):
    datadir = tmp_path_factory.mktemp("archive")
    dev, recorded = run_recorded(datadir, archive=True)
    yield datadir, dev, recorded
    dev.close()


def test_chain_finalized_past_archive_range(archive_chain):
    _, dev, _ = archive_chain
    history = dev.chain.history
    assert history.archive
    assert dev.chain.snapshot.finalized.epoch >= 5
    assert history.archived_slot() == history.finalized_slot()
    assert history.finalized_slot() >= 40


def test_every_slot_matches_recording(archive_chain):
    _, dev, recorded = archive_chain
    check_slots(reader_for(dev), recorded, range(0, SLOTS + 1))


def test_state_roots_resolve_to_their_slots(archive_chain):
    _, dev, recorded = archive_chain
    reader = reader_for(dev)
    archived = range(0, dev.chain.history.finalized_slot())
    paths = [f"/eth/v1/beacon/states/{recorded[slot].state_root}/root" for slot in archived]
    responses = fetch_all(reader, paths)
    for slot, path in zip(archived, paths, strict=True):
        assert responses[path].status_code == 200, f"slot {slot}: {responses[path].text}"
        assert responses[path].json()["data"]["root"] == recorded[slot].state_root


def test_debug_state_ssz_of_archived_slot(archive_chain):
    _, dev, recorded = archive_chain
    reader = reader_for(dev)
    responses: dict[int, httpx.Response] = {}

    async def main() -> None:
        transport = httpx.ASGITransport(app=create_app(reader))
        async with httpx.AsyncClient(transport=transport, base_url="http://caplin") as client:
            for slot in (10, 33):
                responses[slot] = await client.get(
                    f"/eth/v2/debug/beacon/states/{slot}",
                    headers={"Accept": "application/octet-stream"},
                )

    trio.run(main)
    for slot, response in responses.items():
        assert response.status_code == 200, f"slot {slot}: {response.text}"
        assert response.headers["Eth-Consensus-Version"] == "electra"
        state = dev.spec.types(Fork.ELECTRA).BeaconState.decode_bytes(response.content)
        assert int(state.slot) == slot
        assert "0x" + bytes(state.hash_tree_root()).hex() == recorded[slot].state_root


def test_crash_then_restart_serves_same_states(tmp_path):
    """A crash (like kill -9) loses deferred writes and archive progress: the next start
    archives the finalized blocks again from its last committed slot, before serving. A
    clean restart after that serves the same states."""
    dev, recorded = run_recorded(tmp_path, archive=True, slots=SLOTS)
    archived = dev.chain.history.archived_slot()
    # Forget the archive's last epoch, as if the process died between the finality write and
    # the archive write, then close the files without `flush`.
    lost = range(archived - 7, archived + 1)
    with dev.db.kv.write() as txn:
        txn.put("archive_meta", b"archived_slot", (archived - 8).to_bytes(8, "big"))
        for slot in lost:
            txn.delete("archive_roots", bytes.fromhex(recorded[slot].state_root[2:]))
            txn.delete("archive_snapshots", slot.to_bytes(8, "big"))
    dev.chain._deferred.clear()
    dev.db.close()
    dev.engine.close()

    reopened = open_chain(tmp_path, archive=True)
    try:
        history = reopened.chain.history
        assert history.archived_slot() == archived
        for slot in lost:
            state_root = bytes.fromhex(recorded[slot].state_root[2:])
            assert history.slot_of_state_root(state_root) == slot, f"slot {slot} not indexed"
        check_slots(reader_for(reopened), recorded, range(0, SLOTS + 1))
    finally:
        reopened.close()

    restarted = open_chain(tmp_path, archive=True)
    try:
        check_slots(reader_for(restarted), recorded, range(0, SLOTS + 1))
    finally:
        restarted.close()


def test_datadir_mode_is_fixed(tmp_path):
    dev = open_chain(tmp_path / "pruned", archive=False, slots=34)
    client = ValidatorClient(dev.chain, dev.keys, engine=dev.engine, txpool=dev.txpool)
    drive(dev, client, 1, 34)
    assert dev.chain.history.finalized_slot() > 0
    dev.close()
    with pytest.raises(StorageError, match="not an archive"):
        open_chain(tmp_path / "pruned", archive=True)

    dev = open_chain(tmp_path / "archive", archive=True, slots=4)
    dev.close()
    with pytest.raises(StorageError, match="is an archive"):
        open_chain(tmp_path / "archive", archive=False)


@pytest.fixture(scope="module")
def pruned_chain(tmp_path_factory):
    datadir = tmp_path_factory.mktemp("pruned")
    dev, recorded = run_recorded(datadir, archive=False)
    yield dev, recorded
    dev.close()


def test_pruned_node_rejects_old_slots(pruned_chain):
    dev, _ = pruned_chain
    oldest = dev.chain.history.finalized_slot()
    assert oldest >= 40
    responses = fetch_all(reader_for(dev), [f"/eth/v1/beacon/states/{5}/root"])
    response = responses["/eth/v1/beacon/states/5/root"]
    assert response.status_code == 404
    message = response.json()["message"]
    assert "not an archive node" in message
    assert f"from slot {oldest}" in message
    assert "--caplin.archive=true" in message


def test_pruned_node_rejects_old_roots(pruned_chain):
    dev, recorded = pruned_chain
    path = f"/eth/v1/beacon/states/{recorded[5].state_root}/root"
    response = fetch_all(reader_for(dev), [path])[path]
    assert response.status_code == 404
    assert "not an archive node" in response.json()["message"]


def test_pruned_node_serves_genesis_and_recent(pruned_chain):
    dev, recorded = pruned_chain
    oldest = dev.chain.history.finalized_slot()
    check_slots(reader_for(dev), recorded, [0, *range(oldest, SLOTS + 1)])
    genesis_path = f"/eth/v1/beacon/states/{recorded[0].state_root}/root"
    assert fetch_all(reader_for(dev), [genesis_path])[genesis_path].status_code == 200


def test_pruned_node_deletes_old_states(pruned_chain):
    dev, _ = pruned_chain
    oldest = dev.chain.history.finalized_slot()
    with dev.db.kv.read() as txn:
        kept = [root for root, _ in txn.items("states")]
    slots = sorted(int(dev.db.block(root).message.slot) for root in kept)
    assert slots[0] == 0
    assert all(slot == 0 or slot >= oldest for slot in slots), slots


# --- the node as a process -------------------------------------------------------------

API_PORT = 26010
SLOT_MS = 2000


def start_node(datadir: Path, log_path: Path, archive: bool) -> subprocess.Popen:
    config = datadir.parent / "fast.yaml"
    config.write_text(f"SLOT_DURATION_MS: {SLOT_MS}\n")
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        f"--datadir={datadir}",
        f"--dev.config={config}",
        "--dev.genesis-delay=1",
        "--http=false",
        "--beacon.api.addr=127.0.0.1",
        f"--beacon.api.port={API_PORT}",
        f"--caplin.archive={'true' if archive else 'false'}",
        "--verbosity=info",
    ]
    log_file = open(log_path, "ab")
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def get_json(path: str) -> dict | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{API_PORT}{path}", timeout=10)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def head_record() -> tuple[int, str] | None:
    header = get_json("/eth/v1/beacon/headers/head")
    if header is None:
        return None
    message = header["data"]["header"]["message"]
    return int(message["slot"]), message["state_root"]


@pytest.mark.slow
def test_process_kill_and_restart(tmp_path):
    """Run `caplin --caplin.archive=true` past finality, recording each head's state root,
    kill -9 it, restart it and read every recorded slot back."""
    datadir = tmp_path / "node"
    log_path = tmp_path / "node.log"
    recorded: dict[int, str] = {}
    process = start_node(datadir, log_path, archive=True)
    try:
        deadline = time.time() + 300
        finalized_epoch = 0
        while time.time() < deadline and finalized_epoch < 5:
            head = head_record()
            if head is not None:
                recorded[head[0]] = head[1]
            checkpoints = get_json("/eth/v1/beacon/states/head/finality_checkpoints")
            if checkpoints is not None:
                finalized_epoch = int(checkpoints["data"]["finalized"]["epoch"])
            time.sleep(SLOT_MS / 4000)
        assert finalized_epoch >= 5, log_path.read_text()[-3000:]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

        process = start_node(datadir, log_path, archive=True)
        deadline = time.time() + 120
        while time.time() < deadline and get_json("/eth/v1/node/version") is None:
            time.sleep(0.5)
        mismatches = []
        for slot, state_root in sorted(recorded.items()):
            found = get_json(f"/eth/v1/beacon/states/{slot}/root")
            if found is None or found["data"]["root"] != state_root:
                mismatches.append((slot, state_root, found))
        assert len(recorded) > 30
        assert not mismatches, mismatches[:3]
        assert "archive mode" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
