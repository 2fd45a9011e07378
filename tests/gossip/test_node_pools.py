"""The pools gossip feeds: aggregate merging, sync messages, operations and sidecars."""

from caplin.config import constants
from caplin.config.constants import SYNC_COMMITTEE_SUBNET_COUNT
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.node.pools import AttestationPool, OperationPool, SidecarPool, SyncCommitteePool
from tests.gossip.chain_helpers import SPEC, TYPES, genesis_state, secret_key

MESSAGE = b"\x42" * 32


def signed_by(positions: set[int]) -> bytes:
    return bytes(bls.Aggregate([bls.Sign(secret_key(p), MESSAGE) for p in sorted(positions)]))


def pubkeys(positions) -> list[bytes]:
    return [bytes(bls.SkToPk(secret_key(p))) for p in sorted(positions)]


def attestation_data(slot: int = 3):
    return TYPES.AttestationData(slot=slot, index=1)


def test_disjoint_aggregates_merge():
    pool = AttestationPool()
    data = attestation_data()
    assert pool.add_aggregate(data, 1, 8, {0, 1}, signed_by({0, 1}))
    assert pool.add_aggregate(data, 1, 8, {4}, signed_by({4}))
    (aggregate,) = pool.aggregates()
    assert aggregate.bits == {0, 1, 4}
    assert bls.FastAggregateVerify(pubkeys({0, 1, 4}), MESSAGE, aggregate.signature())


def test_covered_aggregate_changes_nothing():
    pool = AttestationPool()
    data = attestation_data()
    pool.add_aggregate(data, 1, 8, {0, 1, 2}, signed_by({0, 1, 2}))
    assert not pool.add_aggregate(data, 1, 8, {1, 2}, signed_by({1, 2}))
    assert not pool.add_aggregate(data, 1, 8, set(), signed_by({3}))
    assert pool.aggregates()[0].bits == {0, 1, 2}


def test_superset_aggregate_replaces():
    pool = AttestationPool()
    data = attestation_data()
    pool.add(data, 1, 8, [(2, bls.Sign(secret_key(2), MESSAGE))])
    assert pool.add_aggregate(data, 1, 8, {1, 2, 3}, signed_by({1, 2, 3}))
    (aggregate,) = pool.aggregates()
    assert aggregate.bits == {1, 2, 3}
    assert bls.FastAggregateVerify(pubkeys({1, 2, 3}), MESSAGE, aggregate.signature())


def test_overlapping_aggregate_dropped():
    pool = AttestationPool()
    data = attestation_data()
    pool.add_aggregate(data, 1, 8, {0, 1}, signed_by({0, 1}))
    assert not pool.add_aggregate(data, 1, 8, {1, 2}, signed_by({1, 2}))
    (aggregate,) = pool.aggregates()
    assert aggregate.bits == {0, 1}
    assert bls.FastAggregateVerify(pubkeys({0, 1}), MESSAGE, aggregate.signature())


def test_aggregates_of_other_data_stay_apart():
    pool = AttestationPool()
    pool.add_aggregate(attestation_data(3), 1, 8, {0}, signed_by({0}))
    pool.add_aggregate(attestation_data(4), 1, 8, {0}, signed_by({0}))
    pool.add_aggregate(attestation_data(3), 0, 8, {0}, signed_by({0}))
    assert len(pool) == 3
    pool.prune(4)
    assert [a.slot for a in pool.aggregates()] == [4]


def test_sync_messages_beat_smaller_contribution():
    types = SPEC.types(Fork.ALTAIR)
    pool = SyncCommitteePool()
    root = b"\x07" * 32
    size = SPEC.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT
    contribution = types.SyncCommitteeContribution(
        slot=5,
        beacon_block_root=root,
        subcommittee_index=1,
        aggregation_bits=[i == 0 for i in range(size)],
        signature=signed_by({10}),
    )
    pool.add_contribution(contribution)
    # Validator 11 sits at two positions of subcommittee 1, validator 12 at one.
    pool.add_message(5, root, 1, [1, 2], bls.Sign(secret_key(11), MESSAGE))
    pool.add_message(5, root, 1, [3], bls.Sign(secret_key(12), MESSAGE))
    aggregate = pool.sync_aggregate(SPEC, types, 5, root)
    bits = [i for i, bit in enumerate(aggregate.sync_committee_bits) if bit]
    assert bits == [size + 1, size + 2, size + 3]
    keys = pubkeys([11]) * 2 + pubkeys([12])
    assert bls.FastAggregateVerify(keys, MESSAGE, bytes(aggregate.sync_committee_signature))


def test_contribution_kept_when_larger():
    types = SPEC.types(Fork.ALTAIR)
    pool = SyncCommitteePool()
    root = b"\x07" * 32
    size = SPEC.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT
    contribution = types.SyncCommitteeContribution(
        slot=5,
        beacon_block_root=root,
        subcommittee_index=0,
        aggregation_bits=[i < 2 for i in range(size)],
        signature=signed_by({20, 21}),
    )
    pool.add_contribution(contribution)
    pool.add_message(5, root, 0, [5], bls.Sign(secret_key(22), MESSAGE))
    aggregate = pool.sync_aggregate(SPEC, types, 5, root)
    assert [i for i, bit in enumerate(aggregate.sync_committee_bits) if bit] == [0, 1]
    pool.prune(6)
    empty = pool.sync_aggregate(SPEC, types, 5, root)
    assert not any(empty.sync_committee_bits)
    assert bytes(empty.sync_committee_signature) == constants.G2_POINT_AT_INFINITY


def test_operation_pool_keeps_one_per_validator():
    pool = OperationPool()
    first = TYPES.SignedVoluntaryExit(message=TYPES.VoluntaryExit(epoch=1, validator_index=4))
    second = TYPES.SignedVoluntaryExit(message=TYPES.VoluntaryExit(epoch=2, validator_index=4))
    pool.add_voluntary_exit(first)
    pool.add_voluntary_exit(second)
    assert [int(e.message.epoch) for e in pool.voluntary_exits()] == [1]
    slashing = TYPES.ProposerSlashing()
    slashing.signed_header_1.message.proposer_index = 6
    pool.add_proposer_slashing(slashing)
    assert len(pool) == 2


def test_operation_pool_prunes_what_state_shows_done():
    state = genesis_state()
    pool = OperationPool()
    for index in (1, 2):
        message = TYPES.VoluntaryExit(epoch=0, validator_index=index)
        pool.add_voluntary_exit(TYPES.SignedVoluntaryExit(message=message))
    slashing = TYPES.ProposerSlashing()
    slashing.signed_header_1.message.proposer_index = 3
    pool.add_proposer_slashing(slashing)
    attester_slashing = TYPES.AttesterSlashing()
    attester_slashing.attestation_1.attesting_indices = [5, 6]
    attester_slashing.attestation_2.attesting_indices = [6, 7]
    pool.add_attester_slashing(attester_slashing)
    assert len(pool) == 4

    state.validators[1].exit_epoch = 9
    state.validators[3].slashed = True
    pool.prune(state)
    assert [int(e.message.validator_index) for e in pool.voluntary_exits()] == [2]
    assert pool.proposer_slashings() == []
    assert len(pool.attester_slashings()) == 1
    # The attester slashing is done once every validator it can slash is slashed.
    state.validators[6].slashed = True
    pool.prune(state)
    assert pool.attester_slashings() == []


def test_sidecar_pool_by_root_and_prune():
    types = SPEC.types(Fork.DENEB)
    pool = SidecarPool()
    sidecars = []
    for slot, index in ((4, 0), (4, 1), (9, 0)):
        sidecar = types.BlobSidecar(index=index)
        sidecar.signed_block_header.message.slot = slot
        pool.add_blob_sidecar(sidecar)
        sidecars.append(sidecar)
    root = bytes(sidecars[0].signed_block_header.message.hash_tree_root())
    assert pool.blob_sidecar(root, 1) == sidecars[1]
    assert pool.blob_sidecar(root, 2) is None
    assert pool.counts() == (3, 0)
    pool.prune(5)
    assert pool.counts() == (1, 0)
    assert pool.blob_sidecar(root, 0) is None
