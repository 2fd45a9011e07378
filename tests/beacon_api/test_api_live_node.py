"""The validator namespace of a running caplin dev node, against its in-node validators.

Each fixture starts `caplin` as a subprocess on loopback (API ports 25910 and 25911, no
JSON-RPC, no networking) with 2-second slots, and stops it by its PID. One node runs the 64
interop validators, so duties can be checked against the blocks and votes they made. The other
runs none, and the test acts as its external validator client: it requests a block, signs
it and publishes it.

The Lodestar check runs tests/beacon_api/lodestar_validator_check.mjs with the typed
`@lodestar/api` 1.48.0 client; it needs `node` and CAPLIN_LODESTAR_API_DIR, a folder where
`npm i @lodestar/api@1.48.0` was run, and is skipped without them.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from caplin.config.constants import DOMAIN_BEACON_PROPOSER, DOMAIN_RANDAO
from caplin.transition import helpers as h
from caplin.types.json import from_json, to_json
from caplin.types.ssz import hash_tree_root
from caplin.validator.keys import interop_key
from caplin.validator.proposer import uint64_root

SLOT_MS = 2000
START_TIMEOUT_SECONDS = 60
CHECK_SCRIPT = Path(__file__).with_name("lodestar_validator_check.mjs")
LODESTAR_API_DIR = os.environ.get("CAPLIN_LODESTAR_API_DIR", "")


class LiveNode:
    """A `caplin` dev node subprocess and an HTTP client for its Beacon API."""

    def __init__(
        self, datadir: Path, port: int, run_validators: bool, options: tuple[str, ...] = ()
    ) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = datadir.with_suffix(".log")
        command = [
            sys.executable,
            "-m",
            "caplin.cli",
            f"--datadir={datadir}",
            f"--beacon.api.port={port}",
            "--http=false",
            f"--dev.slot-duration={SLOT_MS}",
            "--dev.genesis-delay=2",
            f"--dev.run-validators={str(run_validators).lower()}",
            # Later flags replace earlier ones, so `options` may turn the JSON-RPC on.
            *options,
        ]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait_for_api(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log_path.read_text()[-2000:]
            try:
                if self.client.get("/eth/v1/node/health").status_code in (200, 206):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"no Beacon API at {self.url} after {START_TIMEOUT_SECONDS} s")

    def head_slot(self) -> int:
        return int(self.client.get("/eth/v1/node/syncing").json()["data"]["head_slot"])

    def current_slot(self) -> int:
        data = self.client.get("/eth/v1/node/syncing").json()["data"]
        return int(data["head_slot"]) + int(data["sync_distance"])

    def wait_for_slot(self, slot: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS + slot * SLOT_MS / 1000
        while self.head_slot() < slot:
            assert time.monotonic() < deadline, f"head did not reach slot {slot}"
            time.sleep(0.3)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture(scope="module")
def validating(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("live") / "validating", 25910, run_validators=True)
    try:
        node.wait_for_api()
        # Past the first epoch, so that blocks carry attestations and epoch 1 has begun.
        node.wait_for_slot(10)
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="module")
def following(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("live") / "following", 25911, run_validators=False)
    try:
        node.wait_for_api()
        yield node
    finally:
        node.stop()


def test_proposer_duties_match_node_blocks(validating: LiveNode) -> None:
    client = validating.client
    head_slot = validating.head_slot()
    checked = 0
    for epoch in range(head_slot // 8 + 1):
        duties = client.get(f"/eth/v1/validator/duties/proposer/{epoch}").json()["data"]
        for duty in duties:
            slot = int(duty["slot"])
            if slot == 0 or slot > head_slot:
                continue
            block = client.get(f"/eth/v1/beacon/headers/{slot}")
            if block.status_code == 404:
                continue
            proposer = block.json()["data"]["header"]["message"]["proposer_index"]
            assert proposer == duty["validator_index"], f"slot {slot}"
            checked += 1
    assert checked >= 8


def test_attester_duties_match_committees(validating: LiveNode) -> None:
    client = validating.client
    epoch = validating.head_slot() // 8
    duties = client.post(
        f"/eth/v1/validator/duties/attester/{epoch}", json=[str(i) for i in range(64)]
    ).json()
    committees = client.get(f"/eth/v1/beacon/states/head/committees?epoch={epoch}").json()
    member_of = {}
    for committee in committees["data"]:
        for position, index in enumerate(committee["validators"]):
            member_of[index] = (committee["slot"], committee["index"], str(position))
    assert len(duties["data"]) == 64
    for duty in duties["data"]:
        expected = member_of[duty["validator_index"]]
        assert (
            duty["slot"],
            duty["committee_index"],
            duty["validator_committee_index"],
        ) == expected
    dependent_slot = (epoch - 1) * 8 - 1
    if dependent_slot >= 0:
        header = client.get(f"/eth/v1/beacon/headers/{dependent_slot}").json()
        assert duties["dependent_root"] == header["data"]["root"]


def test_attestation_data_matches_node_votes(validating: LiveNode) -> None:
    client = validating.client
    # The previous slot's aggregates are in the pool once its aggregation deadline passed.
    slot = validating.head_slot() - 1
    pooled = client.get(f"/eth/v2/beacon/pool/attestations?slot={slot}").json()["data"]
    assert pooled, f"no pooled attestations at slot {slot}"
    produced = client.get(f"/eth/v1/validator/attestation_data?slot={slot}").json()["data"]
    assert produced in [attestation["data"] for attestation in pooled]


def test_liveness_of_node_validators(validating: LiveNode) -> None:
    client = validating.client
    indices = [str(i) for i in range(64)]
    duties = client.post("/eth/v1/validator/duties/attester/0", json=indices).json()["data"]
    response = client.post("/eth/v1/validator/liveness/0", json=indices)
    assert response.status_code == 200, response.text
    live = {item["index"]: item["is_live"] for item in response.json()["data"]}
    # The node's validators duty loop starts at slot 1, so the votes of slot 0 never exist.
    for duty in duties:
        assert live[duty["validator_index"]] == (duty["slot"] != "0"), duty


def _domain(client: httpx.Client, domain_type: bytes) -> bytes:
    fork = client.get("/eth/v1/beacon/states/head/fork").json()["data"]
    genesis = client.get("/eth/v1/beacon/genesis").json()["data"]
    return h.compute_domain(
        None,
        domain_type,
        bytes.fromhex(fork["current_version"][2:]),
        bytes.fromhex(genesis["genesis_validators_root"][2:]),
    )


def test_external_validator_proposes(following: LiveNode) -> None:
    from caplin.config import ChainSpec
    from caplin.config.forks import Fork

    client = following.client
    following.wait_for_slot(0)
    while following.current_slot() < 1:
        time.sleep(0.2)
    slot = following.current_slot()
    epoch = slot // 8
    duties = client.get(f"/eth/v1/validator/duties/proposer/{epoch}").json()["data"]
    proposer = next(int(d["validator_index"]) for d in duties if int(d["slot"]) == slot)
    key = interop_key(proposer)
    reveal = key.sign(
        h.compute_signing_root(None, uint64_root(epoch), _domain(client, DOMAIN_RANDAO))
    )

    graffiti = "0x" + b"external proposer".ljust(32, b"\x00").hex()
    response = client.get(
        f"/eth/v3/validator/blocks/{slot}",
        params={"randao_reveal": "0x" + reveal.hex(), "graffiti": graffiti},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    fork = Fork.from_name(body["version"])
    spec = ChainSpec.for_preset("minimal")
    block = from_json(spec.types(fork).BeaconBlock, body["data"]["block"])
    assert int(block.proposer_index) == proposer
    assert bytes(block.body.graffiti).hex() == graffiti[2:]

    signing_root = h.compute_signing_root(None, block, _domain(client, DOMAIN_BEACON_PROPOSER))
    signed = spec.types(fork).SignedBeaconBlock(message=block, signature=key.sign(signing_root))
    published = client.post(
        "/eth/v2/beacon/blocks",
        json={"signed_block": to_json(signed), "kzg_proofs": [], "blobs": []},
        headers={"eth-consensus-version": fork.lower},
    )
    assert published.status_code == 200, published.text
    head = client.get("/eth/v1/beacon/headers/head").json()["data"]
    assert head["root"] == "0x" + hash_tree_root(block).hex()


@pytest.mark.interop
@pytest.mark.skipif(
    shutil.which("node") is None
    or not (LODESTAR_API_DIR and Path(LODESTAR_API_DIR, "node_modules/@lodestar/api").exists()),
    reason="needs node and CAPLIN_LODESTAR_API_DIR with `npm i @lodestar/api@1.48.0` run in it",
)
def test_lodestar_client_reads_validator_routes(validating: LiveNode, following: LiveNode) -> None:
    # The block comes from the node without validators: its head stays at genesis, so the
    # slot is still free when the script gets to it.
    client = following.client
    slot = following.current_slot() + 1
    epoch = slot // 8
    duties = client.get(f"/eth/v1/validator/duties/proposer/{epoch}").json()["data"]
    proposer = next(int(d["validator_index"]) for d in duties if int(d["slot"]) == slot)
    reveal = interop_key(proposer).sign(
        h.compute_signing_root(None, uint64_root(epoch), _domain(client, DOMAIN_RANDAO))
    )
    command = ["node", str(CHECK_SCRIPT), validating.url, str(slot), "0x" + reveal.hex()]
    result = subprocess.run(
        [*command, following.url],
        env={**os.environ, "CAPLIN_LODESTAR_API_DIR": LODESTAR_API_DIR},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = result.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL")]
    assert not failed, "\n".join(lines) + result.stderr[-1000:]
    assert result.returncode == 0, result.stderr[-1000:]
    assert sum(line.startswith("PASS") for line in lines) == 10, result.stdout


def test_external_sync_message_reaches_contribution(following: LiveNode) -> None:
    from caplin.config.constants import DOMAIN_SYNC_COMMITTEE

    client = following.client
    slot = following.current_slot()
    head_root = client.get("/eth/v1/beacon/headers/head").json()["data"]["root"]
    duties = client.post(
        f"/eth/v1/validator/duties/sync/{slot // 8}", json=[str(i) for i in range(64)]
    ).json()["data"]
    duty = duties[0]
    member = int(duty["validator_index"])
    signing_root = h.compute_signing_root(
        None, bytes.fromhex(head_root[2:]), _domain(client, DOMAIN_SYNC_COMMITTEE)
    )
    message = {
        "slot": str(slot),
        "beacon_block_root": head_root,
        "validator_index": str(member),
        "signature": "0x" + interop_key(member).sign(signing_root).hex(),
    }
    response = client.post("/eth/v1/beacon/pool/sync_committees", json=[message])
    assert response.status_code == 200, response.text

    position = int(duty["validator_sync_committee_indices"][0])
    subcommittee, offset = divmod(position, 8)
    contribution = client.get(
        "/eth/v1/validator/sync_committee_contribution",
        params={"slot": slot, "subcommittee_index": subcommittee, "beacon_block_root": head_root},
    )
    assert contribution.status_code == 200, contribution.text
    bits = int(contribution.json()["data"]["aggregation_bits"], 16)
    assert bits & (1 << offset)

    forged = {**message, "validator_index": str((member + 1) % 64)}
    rejected = client.post("/eth/v1/beacon/pool/sync_committees", json=[forged])
    assert rejected.status_code == 400, rejected.text
