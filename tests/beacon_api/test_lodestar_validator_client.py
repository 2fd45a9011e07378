"""Lodestar 1.5.1's validator client runs all 64 validators of a caplin chain over the Beacon API.

caplin runs a capella dev chain (Lodestar 1.5.1 supports forks up to capella) without validators
of its own, on API port 25930. The Lodestar validator client gets the chain's config from
caplin's /eth/v1/config/spec as its params file and the 64 interop keys, then does every duty
through caplin's routes: proposer, attester and sync duties, block production and publication,
attestations, aggregates, sync committee messages and contributions. The test passes when the
chain finalizes epoch 2, at the start of epoch 4, which needs more than two thirds of the votes.

Needs Lodestar installed (scripts/interop-lodestar.sh does it): CAPLIN_LODESTAR_DIR is its
install folder. Both processes listen on 127.0.0.1 only and are stopped by their PIDs.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

LODESTAR_DIR = os.environ.get("CAPLIN_LODESTAR_DIR", "")
LODESTAR_ENTRY = Path(LODESTAR_DIR, "node_modules/@chainsafe/lodestar/lib/index.js")
API_PORT = 25930
SLOT_MS = 4000
# Finality of epoch 2 comes at slot 32 (128 s of 4-second slots) after a 20-second genesis delay.
FINALITY_TIMEOUT_SECONDS = 300

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(
        not (LODESTAR_DIR and LODESTAR_ENTRY.exists()),
        reason="Lodestar not installed: run scripts/interop-lodestar.sh (sets CAPLIN_LODESTAR_DIR)",
    ),
]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _params_file(spec: dict, path: Path) -> None:
    """Write the chain config as a Lodestar params file (YAML of quoted strings)."""
    lines = [
        f"{key}: {json.dumps(value)}\n" for key, value in spec.items() if isinstance(value, str)
    ]
    path.write_text("".join(lines))


@pytest.fixture
def caplin_node(tmp_path: Path) -> Iterator[tuple[httpx.Client, Path]]:
    log = open(tmp_path / "caplin.log", "w")  # noqa: SIM115 - closed below
    command = [
        sys.executable,
        "-m",
        "caplin.cli",
        f"--datadir={tmp_path / 'caplin'}",
        f"--beacon.api.port={API_PORT}",
        "--http=false",
        "--dev.genesis-fork=capella",
        "--dev.run-validators=false",
        f"--dev.slot-duration={SLOT_MS}",
        "--dev.genesis-delay=20",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{API_PORT}", timeout=30)
    try:
        yield client, tmp_path
    finally:
        client.close()
        _stop(process)
        log.close()


def _wait_for_spec(client: httpx.Client) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            return client.get("/eth/v1/config/spec").json()["data"]
        except httpx.TransportError:
            time.sleep(0.5)
    raise AssertionError("caplin's Beacon API did not start within 60 s")


def test_lodestar_validators_finalize_caplin_chain(
    caplin_node: tuple[httpx.Client, Path],
) -> None:
    client, folder = caplin_node
    spec = _wait_for_spec(client)
    params = folder / "params.yaml"
    _params_file(spec, params)
    vc_folder = folder / "lodestar-vc"
    vc_folder.mkdir()
    # Lodestar reads every LODESTAR_* variable as a flag, except the preset.
    env = {key: value for key, value in os.environ.items() if not key.startswith("LODESTAR_")}
    env["LODESTAR_PRESET"] = spec["PRESET_BASE"]
    command = [
        "node",
        str(LODESTAR_ENTRY),
        "validator",
        f"--dataDir={vc_folder}",
        f"--paramsFile={params}",
        f"--beaconNodes=http://127.0.0.1:{API_PORT}",
        "--interopIndexes=0..63",
        "--suggestedFeeRecipient=0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
    ]
    vc_log_path = vc_folder / "vc.log"
    with open(vc_log_path, "w") as vc_log:
        validator = subprocess.Popen(
            command, stdout=vc_log, stderr=subprocess.STDOUT, cwd=vc_folder, env=env
        )
        try:
            deadline = time.monotonic() + FINALITY_TIMEOUT_SECONDS
            finalized = 0
            while time.monotonic() < deadline and finalized < 2:
                assert validator.poll() is None, vc_log_path.read_text()[-3000:]
                checkpoints = client.get("/eth/v1/beacon/states/head/finality_checkpoints")
                finalized = int(checkpoints.json()["data"]["finalized"]["epoch"])
                time.sleep(2)
        finally:
            _stop(validator)

    output = vc_log_path.read_text()
    assert finalized >= 2, output[-3000:]
    assert output.count("Published block") >= 24, output[-3000:]
    assert "Published aggregateAndProofs" in output
    assert "Published SyncCommitteeContribution" in output
    graffiti = client.get("/eth/v2/beacon/blocks/head").json()["data"]["message"]["body"]
    assert bytes.fromhex(graffiti["graffiti"][2:]).startswith(b"Lodestar-v1.5.1")
