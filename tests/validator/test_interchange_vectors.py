"""The EIP-3076 interchange test cases against a real LMDB database.

The JSON files in `interchange_vectors/` are the generated cases of the
eth-clients/slashing-protection-interchange-tests repository, release v5.3.0 (commit
bb7900688eecd287d8723154faac6addb5e63336), unchanged. Each case starts from an empty
database, then imports each step's interchange and tries its blocks and attestations. The
database uses the minimal strategy, so the runner checks the `should_succeed` outcomes, with
one difference: it also signs a repeat of a message it contains with the same signing root (the
same slot, or the same source and target), which the complete strategy allows as well. Such
an attempt expects `should_succeed_complete`.
"""

import json
from pathlib import Path

import pytest

from caplin.validator.interchange import InterchangeError, import_interchange
from caplin.validator.slashing_protection import SlashableSigningError, SlashingProtection

VECTORS = Path(__file__).parent / "interchange_vectors"
CASES = sorted(VECTORS.glob("*.json"))


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text[2:])


def attempt_block(protection: SlashingProtection, block: dict) -> bool:
    try:
        protection.check_and_record_block(
            hex_bytes(block["pubkey"]), int(block["slot"]), hex_bytes(block["signing_root"])
        )
    except SlashableSigningError:
        return False
    return True


def attempt_attestation(protection: SlashingProtection, attestation: dict) -> bool:
    root = attestation.get("signing_root", "0x" + "00" * 32)
    try:
        protection.check_and_record_attestation(
            hex_bytes(attestation["pubkey"]),
            int(attestation["source_epoch"]),
            int(attestation["target_epoch"]),
            hex_bytes(root),
        )
    except SlashableSigningError:
        return False
    return True


class History:
    """The messages a case imported or signed so far, to recognise repeat signings."""

    def __init__(self) -> None:
        self.blocks: set[tuple[str, int, str]] = set()
        self.attestations: set[tuple[str, int, int, str]] = set()

    def add_interchange(self, interchange: dict) -> None:
        for entry in interchange["data"]:
            for block in entry["signed_blocks"]:
                self.add_block(entry["pubkey"], block)
            for attestation in entry["signed_attestations"]:
                self.add_attestation(entry["pubkey"], attestation)

    def add_block(self, pubkey: str, block: dict) -> None:
        if "signing_root" in block:
            self.blocks.add((pubkey, int(block["slot"]), block["signing_root"]))

    def add_attestation(self, pubkey: str, attestation: dict) -> None:
        if "signing_root" in attestation:
            source, target = int(attestation["source_epoch"]), int(attestation["target_epoch"])
            self.attestations.add((pubkey, source, target, attestation["signing_root"]))

    def expected_block(self, block: dict) -> bool:
        key = (block["pubkey"], int(block["slot"]), block["signing_root"])
        return block["should_succeed_complete"] if key in self.blocks else block["should_succeed"]

    def expected_attestation(self, attestation: dict) -> bool:
        source, target = int(attestation["source_epoch"]), int(attestation["target_epoch"])
        key = (attestation["pubkey"], source, target, attestation.get("signing_root"))
        if key in self.attestations:
            return attestation["should_succeed_complete"]
        return attestation["should_succeed"]


def test_vectors_present():
    assert len(CASES) == 38


@pytest.mark.parametrize("path", CASES, ids=[path.stem for path in CASES])
def test_interchange_case(tmp_path, path):
    case = json.loads(path.read_text())
    root = hex_bytes(case["genesis_validators_root"])
    history = History()
    with SlashingProtection.open(tmp_path / "protection", root) as protection:
        for number, step in enumerate(case["steps"]):
            try:
                import_interchange(protection, step["interchange"])
                imported = True
            except InterchangeError:
                imported = False
            assert imported == step["should_succeed"], f"step {number} import"
            if not imported:
                continue
            history.add_interchange(step["interchange"])
            for block in step["blocks"]:
                expected = history.expected_block(block)
                outcome = attempt_block(protection, block)
                assert outcome == expected, f"step {number} block {block}"
                if outcome:
                    history.add_block(block["pubkey"], block)
            for attestation in step["attestations"]:
                expected = history.expected_attestation(attestation)
                outcome = attempt_attestation(protection, attestation)
                assert outcome == expected, f"step {number} attestation {attestation}"
                if outcome:
                    history.add_attestation(attestation["pubkey"], attestation)
