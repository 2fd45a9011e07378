"""The `caplin` command as a process: clean stops, kill -9 at random moments, restarts."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caplin.config.forks import Fork
from caplin.node.devchain import dev_chain_spec
from caplin.storage.beacon_db import BeaconDB

# Two-second slots: long enough for a slot's duties on a loaded two-core machine.
SLOT_MS = 2000


def start_node(datadir: Path, engine: str, log_path: Path) -> subprocess.Popen:
    config = datadir.parent / "fast.yaml"
    config.write_text(f"SLOT_DURATION_MS: {SLOT_MS}\n")
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        f"--datadir={datadir}",
        f"--db.engine={engine}",
        f"--dev.config={config}",
        "--dev.genesis-delay=1",
        "--http=false",
        "--beacon.api.enabled=false",
        "--verbosity=info",
    ]
    log_file = open(log_path, "ab")
    return subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)


def wait_for_log(log_path: Path, text: str, timeout: float, count: int = 1) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log_path.exists() and log_path.read_text().count(text) >= count:
            return
        time.sleep(0.2)
    tail = log_path.read_text()[-3000:] if log_path.exists() else ""
    raise AssertionError(f"{text!r} not logged {count} times within {timeout}s:\n{tail}")


def stop(process: subprocess.Popen, sig: int) -> int:
    process.send_signal(sig)
    return process.wait(timeout=60)


def read_chain(datadir: Path, engine: str) -> tuple[int, int]:
    """Return (finalized epoch, head slot) of a stopped node's database, after checking that
    every block of the finalized chain is stored."""
    db = BeaconDB.open(datadir / "beacon", engine)
    try:
        parameters = db.chain_parameters()
        overrides = dict(parameters["overrides"])
        fork = Fork.from_name(parameters["genesis_fork"])
        # The terminal block hash only matters for merging; any value decodes blocks.
        db.spec = dev_chain_spec(parameters["preset"], fork, b"\x00" * 32, overrides)
        finalized_epoch, root = db.finalized()
        while True:
            signed = db.block(root)
            assert signed is not None, f"finalized-chain block 0x{root.hex()} is missing"
            slot = int(signed.message.slot)
            if slot == 0:
                break
            assert db.canonical_root(slot) in (root, None)
            root = bytes(signed.message.parent_root)
        head = db.block(db.head_root())
        assert head is not None
        return finalized_epoch, int(head.message.slot)
    finally:
        db.close()


def test_clean_stop_and_restart(tmp_path):
    datadir, log_path = tmp_path / "data", tmp_path / "node.log"
    process = start_node(datadir, "lmdb", log_path)
    try:
        wait_for_log(log_path, "imported block", timeout=90, count=3)
    finally:
        assert stop(process, signal.SIGTERM) == 0
    assert "node stopped" in log_path.read_text()
    _, head_slot = read_chain(datadir, "lmdb")
    assert head_slot >= 3

    process = start_node(datadir, "lmdb", log_path)
    try:
        wait_for_log(log_path, "replayed stored blocks", timeout=90)
        wait_for_log(log_path, "imported block", timeout=90, count=4)
    finally:
        assert stop(process, signal.SIGINT) == 0


def test_other_chain_datadir_is_rejected(tmp_path):
    datadir, log_path = tmp_path / "data", tmp_path / "node.log"
    process = start_node(datadir, "lmdb", log_path)
    try:
        wait_for_log(log_path, "node started", timeout=90)
    finally:
        stop(process, signal.SIGTERM)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "caplin.cli",
            f"--datadir={datadir}",
            "--dev.validators=8",
            "--http=false",
            "--beacon.api.enabled=false",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "stored_genesis_validators_root=0x" in result.stderr
    assert "expected_genesis_validators_root=0x" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["lmdb", "leveldb"])
def test_restarts_keep_finalizing(tmp_path, engine):
    datadir, log_path = tmp_path / "data", tmp_path / "node.log"
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    finalized_before = 0
    for round_number in range(20):
        process = start_node(datadir, engine, log_path)
        try:
            wait_for_log(log_path, "node started", timeout=120, count=round_number + 1)
            time.sleep(rng.uniform(0.5, 3 * SLOT_MS / 1000))
        finally:
            # Alternate kill -9 at a random moment with a clean stop.
            if round_number % 2 == 0:
                process.kill()
                process.wait(timeout=60)
            else:
                assert stop(process, signal.SIGTERM) == 0
        finalized, _ = read_chain(datadir, engine)
        assert finalized >= finalized_before, "finalized epoch went backwards after a restart"
        finalized_before = finalized

    # The chain keeps finalizing after the restarts.
    process = start_node(datadir, engine, log_path)
    try:
        deadline = time.time() + 600
        target = finalized_before + 2
        while time.time() < deadline:
            time.sleep(5)
            text = log_path.read_text()
            epochs = [
                int(line.split("finalized checkpoint epoch=")[1].split()[0])
                for line in text.splitlines()
                if "finalized checkpoint epoch=" in line
            ]
            if epochs and max(epochs) >= max(target, 3):
                break
        else:
            raise AssertionError(f"no finalization past epoch {target}:\n{text[-3000:]}")
    finally:
        assert stop(process, signal.SIGTERM) == 0
    finalized, _ = read_chain(datadir, engine)
    assert finalized >= max(target, 3)
