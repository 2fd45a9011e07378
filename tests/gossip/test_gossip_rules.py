"""Scenarios of gossip validation on a small phase0 chain: blocks, attestations, operations."""

from typing import Any

import pytest

from caplin.config import constants
from caplin.transition.helpers import get_beacon_committee
from sentinel.gossip import BlockTree, Checkpoint, GossipValidator, Verdict
from sentinel.gossip.attestations import compute_subnet_for_attestation
from tests.gossip.chain_helpers import (
    FORK,
    SPEC,
    TYPES,
    anchor_block,
    build_attestation,
    build_block,
    genesis_state,
    sign,
    slot_time_ms,
)

ACCEPT, IGNORE, REJECT = Verdict.ACCEPT, Verdict.IGNORE, Verdict.REJECT


@pytest.fixture(scope="module")
def genesis() -> tuple[Any, Any]:
    state = genesis_state()
    return state, anchor_block(state)


@pytest.fixture
def chain(genesis: tuple[Any, Any]) -> BlockTree:
    state, block = genesis
    return BlockTree(SPEC, state, block)


@pytest.fixture(scope="module")
def next_block(genesis: tuple[Any, Any]) -> tuple[Any, Any]:
    state, block = genesis
    return build_block(state, bytes(block.hash_tree_root()), 1)


def _validate(chain: BlockTree, topic: str, message: Any, now_ms: int, **args: Any) -> Verdict:
    return GossipValidator(SPEC, chain).validate(topic, message, now_ms, FORK, **args).verdict


# --- beacon_block ----------------------------------------------------------------------------


def test_block_accepted_then_ignored(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    validator = GossipValidator(SPEC, chain)
    now_ms = slot_time_ms(1) + 100

    first = validator.validate("beacon_block", signed_block, now_ms, FORK)
    second = validator.validate("beacon_block", signed_block, now_ms, FORK)
    assert first.verdict is ACCEPT
    assert second.verdict is IGNORE
    assert "first valid block" in second.reason


def test_block_within_clock_disparity(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    disparity = SPEC.MAXIMUM_GOSSIP_CLOCK_DISPARITY
    early_ms = slot_time_ms(1) - disparity
    assert _validate(chain, "beacon_block", signed_block, early_ms) is ACCEPT


def test_block_from_future_slot(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    too_early_ms = slot_time_ms(1) - SPEC.MAXIMUM_GOSSIP_CLOCK_DISPARITY - 1
    assert _validate(chain, "beacon_block", signed_block, too_early_ms) is IGNORE


def test_block_with_unknown_parent(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    orphan = signed_block.copy()
    orphan.message.parent_root = b"\x07" * 32
    assert _validate(chain, "beacon_block", orphan, slot_time_ms(1)) is IGNORE


def test_block_with_failed_parent(
    genesis: tuple[Any, Any], chain: BlockTree, next_block: tuple[Any, Any]
) -> None:
    signed_block, post_state = next_block
    chain.add_block(signed_block.message, None)
    child, _ = build_block(post_state, bytes(signed_block.message.hash_tree_root()), 2)
    assert _validate(chain, "beacon_block", child, slot_time_ms(2)) is REJECT


def test_block_with_bad_signature(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    forged = signed_block.copy()
    forged.signature = signed_block.signature[:-1] + bytes([signed_block.signature[-1] ^ 1])
    assert _validate(chain, "beacon_block", forged, slot_time_ms(1)) is REJECT


def test_block_from_wrong_proposer(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, block = genesis
    expected, _ = build_block(state, bytes(block.hash_tree_root()), 1)
    other = (int(expected.message.proposer_index) + 1) % len(state.validators)
    wrong, _ = build_block(state, bytes(block.hash_tree_root()), 1, proposer=other)
    assert _validate(chain, "beacon_block", wrong, slot_time_ms(1)) is REJECT


def test_block_not_after_finalized_slot(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    chain.set_finalized_checkpoint(Checkpoint(1, chain.anchor_root))
    assert _validate(chain, "beacon_block", signed_block, slot_time_ms(1)) is IGNORE


def test_block_with_unrelated_finalized_checkpoint(
    chain: BlockTree, next_block: tuple[Any, Any]
) -> None:
    signed_block, _ = next_block
    chain.set_finalized_checkpoint(Checkpoint(0, b"\xef" * 32))
    assert _validate(chain, "beacon_block", signed_block, slot_time_ms(1)) is REJECT


def test_undecodable_bytes_are_rejected(chain: BlockTree) -> None:
    result = GossipValidator(SPEC, chain).validate_bytes("beacon_block", b"\x01\x02", 0, FORK)
    assert result.verdict is REJECT
    assert "SSZ" in result.reason


def test_topic_of_later_fork_is_rejected(chain: BlockTree) -> None:
    result = GossipValidator(SPEC, chain).validate_bytes("data_column_sidecar", b"", 0, FORK)
    assert result.verdict is REJECT


# --- beacon_attestation ----------------------------------------------------------------------


def _subnet(state: Any, slot: int, committee_index: int) -> int:
    from caplin.transition.helpers import get_committee_count_per_slot

    committees = get_committee_count_per_slot(SPEC, state, slot // SPEC.SLOTS_PER_EPOCH)
    return compute_subnet_for_attestation(SPEC, committees, slot, committee_index)


def test_attestation_accepted_then_ignored(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    attestation = build_attestation(state, chain.anchor_root, 1, 0, [0])
    subnet = _subnet(state, 1, 0)
    validator = GossipValidator(SPEC, chain)
    now_ms = slot_time_ms(1) + 100

    first = validator.validate("beacon_attestation", attestation, now_ms, FORK, subnet_id=subnet)
    second = validator.validate("beacon_attestation", attestation, now_ms, FORK, subnet_id=subnet)
    assert first.verdict is ACCEPT
    assert second.verdict is IGNORE


LATE_SLOT = 1 + SPEC.ATTESTATION_PROPAGATION_SLOT_RANGE + 2
ATTESTATION_CASES = [
    # (name, positions, subnet offset, receive slot, expected verdict, reason fragment)
    ("aggregated", [0, 1], 0, 1, REJECT, "not unaggregated"),
    ("no participant", [], 0, 1, REJECT, "not unaggregated"),
    ("wrong subnet", [0], 1, 1, REJECT, "wrong subnet"),
    ("past propagation range", [0], 0, LATE_SLOT, IGNORE, "propagation range"),
    ("from a future slot", [0], 0, 0, IGNORE, "propagation range"),
]


@pytest.mark.parametrize(
    ("name", "positions", "subnet_offset", "receive_slot", "expected", "reason"),
    ATTESTATION_CASES,
    ids=[case[0] for case in ATTESTATION_CASES],
)
def test_attestation_rules(
    genesis: tuple[Any, Any],
    chain: BlockTree,
    name: str,
    positions: list[int],
    subnet_offset: int,
    receive_slot: int,
    expected: Verdict,
    reason: str,
) -> None:
    state, _ = genesis
    attestation = build_attestation(state, chain.anchor_root, 1, 0, positions)
    subnet = (_subnet(state, 1, 0) + subnet_offset) % SPEC.ATTESTATION_SUBNET_COUNT
    now_ms = slot_time_ms(receive_slot)
    if receive_slot == 0:
        now_ms += SPEC.SLOT_DURATION_MS - SPEC.MAXIMUM_GOSSIP_CLOCK_DISPARITY - 1
    validator = GossipValidator(SPEC, chain)
    result = validator.validate("beacon_attestation", attestation, now_ms, FORK, subnet_id=subnet)
    assert result.verdict is expected
    assert reason in result.reason


def test_attestation_with_bad_signature(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    attestation = build_attestation(state, chain.anchor_root, 1, 0, [0])
    other = build_attestation(state, chain.anchor_root, 1, 0, [1])
    attestation.signature = other.signature
    subnet = _subnet(state, 1, 0)
    verdict = _validate(chain, "beacon_attestation", attestation, slot_time_ms(1), subnet_id=subnet)
    assert verdict is REJECT


def test_attestation_for_unknown_block(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    attestation = build_attestation(state, b"\x05" * 32, 1, 0, [0])
    subnet = _subnet(state, 1, 0)
    verdict = _validate(chain, "beacon_attestation", attestation, slot_time_ms(1), subnet_id=subnet)
    assert verdict is IGNORE


def test_attestation_with_wrong_target(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    attestation = build_attestation(state, chain.anchor_root, 1, 0, [0], target_root=b"\x06" * 32)
    subnet = _subnet(state, 1, 0)
    verdict = _validate(chain, "beacon_attestation", attestation, slot_time_ms(1), subnet_id=subnet)
    assert verdict is REJECT


# --- operations ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mature_chain_parts() -> tuple[Any, Any]:
    # Exits need validators active for SHARD_COMMITTEE_PERIOD epochs.
    state = genesis_state(slot=SPEC.SHARD_COMMITTEE_PERIOD * SPEC.SLOTS_PER_EPOCH)
    return state, anchor_block(state)


def _exit(state: Any, index: int, epoch: int, signer: int | None = None) -> Any:
    message = TYPES.VoluntaryExit(epoch=epoch, validator_index=index)
    signer = index if signer is None else signer
    signature = sign(state, constants.DOMAIN_VOLUNTARY_EXIT, epoch, message, signer)
    return TYPES.SignedVoluntaryExit(message=message, signature=signature)


def test_voluntary_exit_rules(mature_chain_parts: tuple[Any, Any]) -> None:
    state, block = mature_chain_parts
    chain = BlockTree(SPEC, state, block)
    validator = GossipValidator(SPEC, chain)
    epoch = SPEC.SHARD_COMMITTEE_PERIOD
    now_ms = slot_time_ms(int(state.slot))

    def verdict(signed_exit: Any) -> Verdict:
        return validator.validate("voluntary_exit", signed_exit, now_ms, FORK).verdict

    assert verdict(_exit(state, 3, epoch + 1)) is IGNORE  # epoch in the future
    assert verdict(_exit(state, 3, epoch, signer=4)) is REJECT  # signed by another key
    assert verdict(_exit(state, len(state.validators), epoch)) is REJECT  # unknown validator
    assert verdict(_exit(state, 3, epoch)) is ACCEPT
    assert verdict(_exit(state, 3, epoch)) is IGNORE  # duplicate


def test_voluntary_exit_too_young_validator(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    verdict = _validate(chain, "voluntary_exit", _exit(state, 3, 0), slot_time_ms(0))
    assert verdict is REJECT


def _header(state: Any, proposer: int, slot: int, graffiti: bytes) -> Any:
    header = TYPES.BeaconBlockHeader(slot=slot, proposer_index=proposer, body_root=graffiti)
    epoch = slot // SPEC.SLOTS_PER_EPOCH
    signature = sign(state, constants.DOMAIN_BEACON_PROPOSER, epoch, header, proposer)
    return TYPES.SignedBeaconBlockHeader(message=header, signature=signature)


def test_proposer_slashing_rules(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    validator = GossipValidator(SPEC, chain)
    header_1 = _header(state, 5, 1, b"\x01" * 32)
    header_2 = _header(state, 5, 1, b"\x02" * 32)

    def verdict(first: Any, second: Any) -> Verdict:
        slashing = TYPES.ProposerSlashing(signed_header_1=first, signed_header_2=second)
        return validator.validate("proposer_slashing", slashing, 0, FORK).verdict

    assert verdict(header_1, header_1) is REJECT  # identical headers
    assert verdict(header_1, _header(state, 5, 2, b"\x02" * 32)) is REJECT  # different slots
    forged = header_2.copy()
    forged.signature = header_1.signature
    assert verdict(header_1, forged) is REJECT
    assert verdict(header_1, header_2) is ACCEPT
    assert verdict(header_1, header_2) is IGNORE  # proposer already slashed on gossip


def _indexed(state: Any, indices: list[int], root: bytes) -> Any:
    data = TYPES.AttestationData(slot=1, beacon_block_root=root)
    signatures = [
        sign(state, constants.DOMAIN_BEACON_ATTESTER, 0, data, index) for index in indices
    ]
    from caplin.crypto import bls

    return TYPES.IndexedAttestation(
        attesting_indices=indices, data=data, signature=bls.Aggregate(signatures)
    )


def test_attester_slashing_rules(genesis: tuple[Any, Any], chain: BlockTree) -> None:
    state, _ = genesis
    validator = GossipValidator(SPEC, chain)
    first = _indexed(state, [1, 2, 3], b"\x01" * 32)
    second = _indexed(state, [2, 3, 4], b"\x02" * 32)

    def verdict(attestation_1: Any, attestation_2: Any) -> Verdict:
        slashing = TYPES.AttesterSlashing(attestation_1=attestation_1, attestation_2=attestation_2)
        return validator.validate("attester_slashing", slashing, 0, FORK).verdict

    assert verdict(first, first) is REJECT  # the same vote is not slashable
    assert verdict(first, second) is ACCEPT
    assert verdict(first, second) is IGNORE  # validators 2 and 3 already seen


# --- chain view ------------------------------------------------------------------------------


def test_block_tree_head_and_checkpoints(genesis: tuple[Any, Any], next_block: Any) -> None:
    state, block = genesis
    chain = BlockTree(SPEC, state, block)
    signed_block, post_state = next_block
    root = chain.add_block(signed_block.message, post_state)

    assert chain.head_root() == root
    assert chain.get_checkpoint_block(root, 0) == chain.anchor_root
    assert chain.get_checkpoint_block(b"\x09" * 32, 0) is None
    committee = get_beacon_committee(SPEC, post_state, 1, 0)
    assert len(committee) > 0


def test_prune_forgets_expired_entries(
    genesis: tuple[Any, Any], chain: BlockTree, next_block: tuple[Any, Any]
) -> None:
    state, _ = genesis
    signed_block, _ = next_block
    attestation = build_attestation(state, chain.anchor_root, 1, 0, [0])
    validator = GossipValidator(SPEC, chain)
    now_ms = slot_time_ms(1)
    validator.validate("beacon_block", signed_block, now_ms, FORK)
    validator.validate(
        "beacon_attestation", attestation, now_ms, FORK, subnet_id=_subnet(state, 1, 0)
    )

    validator.prune(slot_time_ms(2))
    assert validator.seen.proposer_slots
    assert validator.seen.attestation_validator_epochs

    chain.set_finalized_checkpoint(Checkpoint(1, chain.anchor_root))
    validator.prune(slot_time_ms(20 * SPEC.SLOTS_PER_EPOCH))
    assert not validator.seen.proposer_slots
    assert not validator.seen.attestation_validator_epochs


def test_block_checks_are_cached(chain: BlockTree, next_block: tuple[Any, Any]) -> None:
    signed_block, _ = next_block
    validator = GossipValidator(SPEC, chain)
    validator.validate("beacon_block", signed_block, slot_time_ms(1), FORK)
    assert len(validator.caches.proposers) == 1
    assert len(validator.caches.verified_signatures) == 1

    # Validating the block again, with the seen-cache cleared, reuses the proposer lookup.
    validator.seen.proposer_slots.clear()
    validator.validate("beacon_block", signed_block, slot_time_ms(1), FORK)
    assert len(validator.caches.proposers) == 1
