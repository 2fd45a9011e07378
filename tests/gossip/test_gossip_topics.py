"""Tests of gossip topic strings, payload decompression limits and message ids."""

import pytest

from caplin.config.forks import Fork
from sentinel.gossip import BlockTree, GossipValidator, Verdict
from sentinel.gossip.topics import (
    GossipTopic,
    compress_payload,
    compute_message_id,
    decompress_payload,
    fork_digests,
    parse_topic,
)
from tests.gossip.chain_helpers import SPEC, anchor_block, build_block, genesis_state, slot_time_ms


def test_parse_subnet_and_global_topics() -> None:
    attestation = parse_topic("/eth2/0a0b0c0d/beacon_attestation_17/ssz_snappy")
    block = parse_topic("/eth2/0a0b0c0d/beacon_block/ssz_snappy")
    assert attestation == GossipTopic(bytes.fromhex("0a0b0c0d"), "beacon_attestation", 17)
    assert block == GossipTopic(bytes.fromhex("0a0b0c0d"), "beacon_block")
    assert str(attestation) == "/eth2/0a0b0c0d/beacon_attestation_17/ssz_snappy"


@pytest.mark.parametrize(
    "topic",
    [
        "/eth2/0a0b0c0d/beacon_block/ssz",
        "/eth2/0a0b0c/beacon_block/ssz_snappy",
        "/eth2/zzzzzzzz/beacon_block/ssz_snappy",
        "eth2/0a0b0c0d/beacon_block/ssz_snappy",
    ],
)
def test_parse_invalid_topics(topic: str) -> None:
    with pytest.raises(ValueError):
        parse_topic(topic)


def test_fork_digests_distinct_per_fork() -> None:
    digests = fork_digests(SPEC, b"\x11" * 32)
    assert sorted(set(digests.values())) == [fork for fork in Fork if fork < Fork.FULU]


def test_decompress_round_trip_and_limits() -> None:
    payload = b"\x01\x02" * 100
    assert decompress_payload(SPEC, compress_payload(payload)) == payload
    with pytest.raises(ValueError):
        decompress_payload(SPEC, b"\x05abc")
    # A length prefix above MAX_PAYLOAD_SIZE is refused before any decompression.
    with pytest.raises(ValueError, match="exceeds"):
        decompress_payload(SPEC, _varint(SPEC.MAX_PAYLOAD_SIZE + 1) + b"\x00")


def _varint(value: int) -> bytes:
    encoded = bytearray()
    while value >= 0x80:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def test_message_ids() -> None:
    topic = "/eth2/0a0b0c0d/beacon_block/ssz_snappy"
    data = compress_payload(b"hello")
    altair_id = compute_message_id(SPEC, topic, data, Fork.ALTAIR)
    phase0_id = compute_message_id(SPEC, topic, data, Fork.PHASE0)
    invalid_id = compute_message_id(SPEC, topic, b"\xff\xff", Fork.ALTAIR)
    assert len(altair_id) == 20
    assert altair_id != phase0_id
    assert invalid_id != compute_message_id(SPEC, topic, b"\xff\xfe", Fork.ALTAIR)


def test_validate_raw_message() -> None:
    state = genesis_state()
    anchor = anchor_block(state)
    validator = GossipValidator(SPEC, BlockTree(SPEC, state, anchor))
    signed_block, _ = build_block(state, bytes(anchor.hash_tree_root()), 1)
    digest = next(
        digest
        for digest, fork in fork_digests(SPEC, bytes(state.genesis_validators_root)).items()
        if fork == Fork.PHASE0
    )
    topic = str(GossipTopic(digest, "beacon_block"))
    data = compress_payload(signed_block.encode_bytes())

    other_chain = str(GossipTopic(b"\x00\x00\x00\x01", "beacon_block"))
    assert validator.validate_message(other_chain, data, slot_time_ms(1)).verdict is Verdict.IGNORE
    assert validator.validate_message(topic, b"\xff\x01", slot_time_ms(1)).verdict is Verdict.REJECT
    assert validator.validate_message(topic, data, slot_time_ms(1)).verdict is Verdict.ACCEPT
    no_subnet = str(GossipTopic(digest, "beacon_attestation"))
    assert validator.validate_message(no_subnet, data, slot_time_ms(1)).verdict is Verdict.REJECT
