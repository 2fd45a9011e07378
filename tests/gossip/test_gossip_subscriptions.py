"""Topic plans: the topics of each fork, subnets, and the digest switch around forks."""

import pytest

from caplin.config import ChainSpec
from caplin.config.constants import FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from sentinel.gossip import parse_topic
from sentinel.gossip.subscriptions import (
    SubnetDuties,
    compute_subscribed_subnets,
    custody_column_subnets,
    digest_schedule,
    digests_at_epoch,
    plan_topics,
)
from sentinel.reqresp.protocols import ForkContext

GENESIS_ROOT = bytes(range(32))


def chain(**fork_epochs: int) -> ChainSpec:
    config = {f"{fork.name}_FORK_EPOCH": FAR_FUTURE_EPOCH for fork in Fork if fork > Fork.PHASE0}
    config.update({f"{name.upper()}_FORK_EPOCH": epoch for name, epoch in fork_epochs.items()})
    return ChainSpec.from_config(config, preset="minimal")


def names_by_digest(plan) -> dict[bytes, set[str]]:
    grouped: dict[bytes, set[str]] = {}
    for topic in plan.topics:
        parsed = parse_topic(topic)
        name = parsed.name if parsed.subnet_id is None else f"{parsed.name}_{parsed.subnet_id}"
        grouped.setdefault(parsed.fork_digest, set()).add(name)
    return grouped


def test_digest_schedule_one_period_per_fork():
    spec = chain(altair=1, bellatrix=2, capella=3)
    periods = digest_schedule(spec, GENESIS_ROOT)
    assert [p.fork for p in periods] == [Fork.PHASE0, Fork.ALTAIR, Fork.BELLATRIX, Fork.CAPELLA]
    assert [(p.start_epoch, p.end_epoch) for p in periods] == [
        (0, 1),
        (1, 2),
        (2, 3),
        (3, FAR_FUTURE_EPOCH),
    ]
    forks = ForkContext(spec, GENESIS_ROOT)
    assert [forks.fork_of_digest(p.digest) for p in periods] == [p.fork for p in periods]


def test_digest_schedule_merges_forks_at_genesis():
    spec = chain(altair=0, bellatrix=0, capella=0, deneb=0, electra=0)
    periods = digest_schedule(spec, GENESIS_ROOT)
    assert [(p.fork, p.start_epoch) for p in periods] == [(Fork.ELECTRA, 0)]


def test_digest_schedule_adds_blob_schedule_digests():
    spec = chain(altair=0, bellatrix=0, capella=0, deneb=0, electra=0, fulu=2)
    later = [entry for entry in spec.BLOB_SCHEDULE if int(entry["EPOCH"]) > 2]
    periods = digest_schedule(spec, GENESIS_ROOT)
    assert [p.fork for p in periods[:2]] == [Fork.ELECTRA, Fork.FULU]
    assert len(periods) == 2 + len({int(entry["EPOCH"]) for entry in later})
    assert len({p.digest for p in periods}) == len(periods)


@pytest.mark.parametrize(
    ("epoch", "forks"),
    [
        (0, [Fork.PHASE0]),
        # One epoch before the fork, the post-fork topics join.
        (3, [Fork.PHASE0, Fork.ALTAIR]),
        (4, [Fork.PHASE0, Fork.ALTAIR]),
        (5, [Fork.PHASE0, Fork.ALTAIR]),
        # Two epochs after the fork, the pre-fork topics are left.
        (6, [Fork.ALTAIR]),
        (100, [Fork.ALTAIR]),
    ],
)
def test_digest_switch_window(epoch, forks):
    periods = digest_schedule(chain(altair=4), GENESIS_ROOT)
    assert [p.fork for p in digests_at_epoch(periods, epoch)] == forks


def test_topics_per_fork():
    spec = chain(altair=1, bellatrix=2, capella=3, deneb=4, electra=5, fulu=6)
    periods = digest_schedule(spec, GENESIS_ROOT)
    digests = {p.fork: p.digest for p in periods}
    duties = SubnetDuties(frozenset({3, 9}), frozenset({1}), frozenset({7, 100}))
    expected_globals = {
        "beacon_block",
        "beacon_aggregate_and_proof",
        "voluntary_exit",
        "proposer_slashing",
        "attester_slashing",
    }

    phase0 = names_by_digest(plan_topics(spec, periods, 0, duties))[digests[Fork.PHASE0]]
    assert phase0 == expected_globals | {"beacon_attestation_3", "beacon_attestation_9"}

    altair = names_by_digest(plan_topics(spec, periods, 1, duties))[digests[Fork.ALTAIR]]
    assert altair - phase0 == {"sync_committee_contribution_and_proof", "sync_committee_1"}

    capella = names_by_digest(plan_topics(spec, periods, 3, duties))[digests[Fork.CAPELLA]]
    assert capella - altair == {"bls_to_execution_change"}

    deneb = names_by_digest(plan_topics(spec, periods, 4, duties))[digests[Fork.DENEB]]
    assert deneb - capella == {f"blob_sidecar_{i}" for i in range(spec.BLOB_SIDECAR_SUBNET_COUNT)}

    electra = names_by_digest(plan_topics(spec, periods, 5, duties))[digests[Fork.ELECTRA]]
    blob_count = spec.BLOB_SIDECAR_SUBNET_COUNT_ELECTRA
    assert electra - capella == {f"blob_sidecar_{i}" for i in range(blob_count)}

    fulu = names_by_digest(plan_topics(spec, periods, 6, duties))[digests[Fork.FULU]]
    assert fulu - capella == {"data_column_sidecar_7", "data_column_sidecar_100"}
    assert not any(name.startswith("blob_sidecar") for name in fulu)


def test_plan_keeps_both_digests_across_fork():
    spec = chain(altair=0, bellatrix=0, capella=0, deneb=0, electra=2)
    periods = digest_schedule(spec, GENESIS_ROOT)
    by_epoch = {
        epoch: names_by_digest(plan_topics(spec, periods, epoch, SubnetDuties()))
        for epoch in range(6)
    }
    deneb, electra = periods[0].digest, periods[1].digest
    assert set(by_epoch[0]) == {deneb}
    assert set(by_epoch[1]) == {deneb, electra}
    assert set(by_epoch[3]) == {deneb, electra}
    assert set(by_epoch[4]) == {electra}
    assert "blob_sidecar_8" in by_epoch[1][electra]
    assert "blob_sidecar_8" not in by_epoch[1][deneb]


def test_long_lived_subnets_rotate_per_period():
    spec = ChainSpec.for_preset("minimal")
    node_id = int.from_bytes(bytes(range(32)), "big")
    subnets = compute_subscribed_subnets(spec, node_id, 0)
    assert len(subnets) == spec.SUBNETS_PER_NODE
    assert all(0 <= subnet < spec.ATTESTATION_SUBNET_COUNT for subnet in subnets)
    # The two subnets of a node are consecutive, modulo the subnet count.
    low = min(subnets)
    assert subnets in (
        frozenset({low, low + 1}),
        frozenset({0, spec.ATTESTATION_SUBNET_COUNT - 1}),
    )
    period = spec.EPOCHS_PER_SUBNET_SUBSCRIPTION
    offset = node_id % period
    first_epoch_of_next = period - offset
    assert compute_subscribed_subnets(spec, node_id, first_epoch_of_next - 1) == subnets


def test_long_lived_subnets_match_reference():
    reference = pytest.importorskip("eth_consensus_specs.fulu.minimal")
    spec = ChainSpec.for_preset("minimal")
    for seed in range(8):
        node_id = int.from_bytes(bytes([seed * 31 % 256]) * 32, "big") >> seed
        for epoch in (0, 1, 255, 256, 1000):
            expected = {int(s) for s in reference.compute_subscribed_subnets(node_id, epoch)}
            assert compute_subscribed_subnets(spec, node_id, epoch) == expected, (node_id, epoch)


def test_custody_column_subnets_cover_custody_columns():
    spec = ChainSpec.for_preset("minimal")
    subnets = custody_column_subnets(spec, 12345, int(spec.CUSTODY_REQUIREMENT))
    assert 0 < len(subnets) <= int(spec.CUSTODY_REQUIREMENT) * (
        int(spec.NUMBER_OF_COLUMNS) // int(spec.NUMBER_OF_CUSTODY_GROUPS)
    )
    assert all(0 <= subnet < int(spec.DATA_COLUMN_SIDECAR_SUBNET_COUNT) for subnet in subnets)
    everything = custody_column_subnets(spec, 12345, int(spec.NUMBER_OF_CUSTODY_GROUPS))
    assert everything == frozenset(range(int(spec.DATA_COLUMN_SIDECAR_SUBNET_COUNT)))
