"""Which gossip topics a node subscribes to: topics per fork, subnets, and fork switches.

Every fork (and from Fulu every blob schedule entry) changes the fork digest in the topic
strings. A node subscribes to the next digest's topics `SUBSCRIBE_EPOCHS_BEFORE` epochs
before it activates, because peers publish on them from the fork's first slot, and keeps
the previous digest's topics for `UNSUBSCRIBE_EPOCHS_AFTER` epochs after, as the altair p2p
spec advises ("two epochs after the fork, pre-fork topics SHOULD be unsubscribed from").
Everything here is a function of the epoch and the duties, so a node started inside a
switch window gets the same topics as one that ran through it.
"""

from dataclasses import dataclass, field
from typing import Any

from caplin.config.constants import FAR_FUTURE_EPOCH, NODE_ID_BITS
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.peerdas import compute_subnet_for_data_column_sidecar, get_custody_columns
from caplin.shuffling import compute_shuffled_index
from caplin.transition.helpers import compute_fork_digest
from sentinel.gossip.topics import GossipTopic

SUBSCRIBE_EPOCHS_BEFORE = 1
UNSUBSCRIBE_EPOCHS_AFTER = 2

# Global topics (one topic per fork digest): name -> (first fork, last fork).
GLOBAL_TOPICS: dict[str, tuple[Fork, Fork]] = {
    "beacon_block": (Fork.PHASE0, Fork.FULU),
    "beacon_aggregate_and_proof": (Fork.PHASE0, Fork.FULU),
    "voluntary_exit": (Fork.PHASE0, Fork.FULU),
    "proposer_slashing": (Fork.PHASE0, Fork.FULU),
    "attester_slashing": (Fork.PHASE0, Fork.FULU),
    "sync_committee_contribution_and_proof": (Fork.ALTAIR, Fork.FULU),
    "bls_to_execution_change": (Fork.CAPELLA, Fork.FULU),
}


@dataclass(frozen=True)
class DigestPeriod:
    """One fork digest with its fork and the epoch range it is in force."""

    digest: bytes
    fork: Fork
    start_epoch: int
    # The first epoch of the next digest; FAR_FUTURE_EPOCH for the last one.
    end_epoch: int


@dataclass(frozen=True)
class SubnetDuties:
    """The subnets a node joins besides the global topics."""

    attestation_subnets: frozenset[int] = frozenset()
    sync_committee_subnets: frozenset[int] = frozenset()
    # Data column subnets of the columns the node custodies (Fulu).
    data_column_subnets: frozenset[int] = frozenset()


@dataclass
class TopicPlan:
    """The topic strings wanted at one epoch, and the fork of each."""

    topics: dict[str, Fork] = field(default_factory=dict)

    def add(self, digest: bytes, fork: Fork, name: str, subnet_id: int | None = None) -> None:
        self.topics[str(GossipTopic(digest, name, subnet_id))] = fork


def digest_schedule(spec: Any, genesis_validators_root: bytes) -> list[DigestPeriod]:
    """Return the chain's fork digests in activation order, each with its epoch range."""
    boundaries = {0}
    for fork in Fork:
        epoch = int(getattr(spec, f"{fork.name}_FORK_EPOCH", FAR_FUTURE_EPOCH))
        if fork > Fork.PHASE0 and epoch != FAR_FUTURE_EPOCH:
            boundaries.add(epoch)
    fulu_epoch = int(getattr(spec, "FULU_FORK_EPOCH", FAR_FUTURE_EPOCH))
    if fulu_epoch != FAR_FUTURE_EPOCH:
        # Fulu mixes the blob parameters into the digest, so each later schedule entry
        # starts a digest of its own.
        for entry in getattr(spec, "BLOB_SCHEDULE", ()):
            if int(entry["EPOCH"]) > fulu_epoch:
                boundaries.add(int(entry["EPOCH"]))

    periods: list[DigestPeriod] = []
    for epoch in sorted(boundaries):
        digest = bytes(compute_fork_digest(spec, genesis_validators_root, epoch))
        if periods and periods[-1].digest == digest:
            continue
        if periods:
            previous = periods[-1]
            periods[-1] = DigestPeriod(previous.digest, previous.fork, previous.start_epoch, epoch)
        periods.append(DigestPeriod(digest, spec.fork_at_epoch(epoch), epoch, FAR_FUTURE_EPOCH))
    return periods


def digests_at_epoch(periods: list[DigestPeriod], epoch: int) -> list[DigestPeriod]:
    """Return the digests whose topics a node subscribes to at `epoch`.

    That is the digest in force, the next one from `SUBSCRIBE_EPOCHS_BEFORE` epochs before
    it activates, and the previous one until `UNSUBSCRIBE_EPOCHS_AFTER` epochs after.
    """
    wanted = []
    for period in periods:
        starts = period.start_epoch - SUBSCRIBE_EPOCHS_BEFORE
        ends = period.end_epoch
        if ends != FAR_FUTURE_EPOCH:
            ends += UNSUBSCRIBE_EPOCHS_AFTER
        if starts <= epoch < ends:
            wanted.append(period)
    return wanted


def blob_sidecar_subnet_count(spec: Any, fork: Fork) -> int:
    """Return how many `blob_sidecar_{i}` subnets `fork` has (none outside Deneb and Electra)."""
    if fork == Fork.DENEB:
        return int(spec.BLOB_SIDECAR_SUBNET_COUNT)
    if fork == Fork.ELECTRA:
        return int(spec.BLOB_SIDECAR_SUBNET_COUNT_ELECTRA)
    return 0


def add_fork_topics(
    plan: TopicPlan, spec: Any, digest: bytes, fork: Fork, duties: SubnetDuties
) -> None:
    """Add every topic of `fork` that a node with `duties` joins, under `digest`."""
    for name, (first, last) in GLOBAL_TOPICS.items():
        if first <= fork <= last:
            plan.add(digest, fork, name)
    for subnet_id in sorted(duties.attestation_subnets):
        plan.add(digest, fork, "beacon_attestation", subnet_id)
    if fork >= Fork.ALTAIR:
        for subnet_id in sorted(duties.sync_committee_subnets):
            plan.add(digest, fork, "sync_committee", subnet_id)
    for subnet_id in range(blob_sidecar_subnet_count(spec, fork)):
        plan.add(digest, fork, "blob_sidecar", subnet_id)
    if fork >= Fork.FULU:
        for subnet_id in sorted(duties.data_column_subnets):
            plan.add(digest, fork, "data_column_sidecar", subnet_id)


def plan_topics(
    spec: Any, periods: list[DigestPeriod], epoch: int, duties: SubnetDuties
) -> TopicPlan:
    """Return every topic string a node with `duties` subscribes to at `epoch`."""
    plan = TopicPlan()
    for period in digests_at_epoch(periods, epoch):
        add_fork_topics(plan, spec, period.digest, period.fork, duties)
    return plan


def compute_subscribed_subnet(spec: Any, node_id: int, epoch: int, index: int) -> int:
    """Return long-lived attestation subnet `index` of a node at `epoch` (phase0 validator
    spec: a shuffled prefix of the node id, rotating every EPOCHS_PER_SUBNET_SUBSCRIPTION
    epochs, offset per node)."""
    prefix_bits = int(spec.ATTESTATION_SUBNET_PREFIX_BITS)
    node_id_prefix = int(node_id) >> (NODE_ID_BITS - prefix_bits)
    node_offset = int(node_id) % int(spec.EPOCHS_PER_SUBNET_SUBSCRIPTION)
    period = (int(epoch) + node_offset) // int(spec.EPOCHS_PER_SUBNET_SUBSCRIPTION)
    seed = sha256(period.to_bytes(8, "little"))
    permutated_prefix = compute_shuffled_index(
        node_id_prefix, 1 << prefix_bits, seed, int(spec.SHUFFLE_ROUND_COUNT)
    )
    return (permutated_prefix + index) % int(spec.ATTESTATION_SUBNET_COUNT)


def compute_subscribed_subnets(spec: Any, node_id: int, epoch: int) -> frozenset[int]:
    """Return the `SUBNETS_PER_NODE` long-lived attestation subnets of a node at `epoch`."""
    return frozenset(
        compute_subscribed_subnet(spec, node_id, epoch, index)
        for index in range(int(spec.SUBNETS_PER_NODE))
    )


def custody_column_subnets(spec: Any, node_id: int, custody_group_count: int) -> frozenset[int]:
    """Return the data column subnets of the columns a node custodies."""
    return frozenset(
        compute_subnet_for_data_column_sidecar(spec, column)
        for column in get_custody_columns(spec, node_id, custody_group_count)
    )
