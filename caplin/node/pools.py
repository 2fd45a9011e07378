"""Operation pools: attestation aggregates and sync committee contributions waiting for a block.

Both pools keep only recent slots (`prune`) and give the proposer what a block on a given
state can include. `AttestationPool.for_block` checks each aggregate's inclusion window and
source checkpoint as `process_attestation` does. From electra it packs the aggregates of one
attestation data into a single on-chain attestation (EIP-7549).
"""

from dataclasses import dataclass, field
from typing import Any

from caplin.config.constants import G2_POINT_AT_INFINITY, SYNC_COMMITTEE_SUBNET_COUNT
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition.helpers import compute_epoch_at_slot, get_current_epoch, get_previous_epoch


@dataclass
class CommitteeAggregate:
    """The aggregate of one committee's votes for one attestation data."""

    slot: int
    committee_index: int
    committee_size: int
    data: Any
    bits: set[int] = field(default_factory=set)
    signatures: list[bytes] = field(default_factory=list)

    def signature(self) -> bytes:
        return bytes(bls.Aggregate(self.signatures))

    def bit_list(self) -> list[bool]:
        return [position in self.bits for position in range(self.committee_size)]


class AttestationPool:
    """Committee aggregates by (slot, committee index, attestation data root)."""

    def __init__(self) -> None:
        self._aggregates: dict[tuple[int, int, bytes], CommitteeAggregate] = {}
        self._included: set[tuple[int, int, bytes]] = set()

    def __len__(self) -> int:
        return len(self._aggregates)

    def add(
        self,
        data: Any,
        committee_index: int,
        committee_size: int,
        votes: list[tuple[int, bytes]],
    ) -> CommitteeAggregate:
        """Add (position in committee, signature) votes of one committee for `data`."""
        slot = int(data.slot)
        key = (slot, committee_index, bytes(data.hash_tree_root()))
        aggregate = self._aggregates.get(key)
        if aggregate is None:
            aggregate = CommitteeAggregate(slot, committee_index, committee_size, data)
            self._aggregates[key] = aggregate
        for position, signature in votes:
            if position not in aggregate.bits:
                aggregate.bits.add(position)
                aggregate.signatures.append(signature)
        return aggregate

    def aggregates_at(self, slot: int) -> list[CommitteeAggregate]:
        return [a for (s, _, _), a in self._aggregates.items() if s == slot]

    def for_block(self, spec: Any, state: Any, limit: int) -> list[Any]:
        """Return up to `limit` on-chain attestations a block on `state` may include, newest
        first, and mark them included."""
        fork = spec.fork_of(state)
        types = spec.types(fork)
        candidates = [
            (key, aggregate)
            for key, aggregate in sorted(self._aggregates.items(), key=lambda item: -item[0][0])
            if key not in self._included and _includable(spec, state, aggregate.data, fork)
        ]
        attestations = []
        if fork >= Fork.ELECTRA:
            groups: dict[bytes, list[tuple[Any, CommitteeAggregate]]] = {}
            for key, aggregate in candidates:
                groups.setdefault(key[2], []).append((key, aggregate))
            for members in groups.values():
                if len(attestations) == limit:
                    break
                members.sort(key=lambda member: member[1].committee_index)
                attestations.append(_electra_attestation(spec, types, [m[1] for m in members]))
                self._included.update(m[0] for m in members)
            return attestations
        for key, aggregate in candidates[:limit]:
            attestations.append(
                types.Attestation(
                    aggregation_bits=aggregate.bit_list(),
                    data=aggregate.data,
                    signature=aggregate.signature(),
                )
            )
            self._included.add(key)
        return attestations

    def prune(self, before_slot: int) -> None:
        """Drop aggregates of slots before `before_slot`."""
        self._aggregates = {k: v for k, v in self._aggregates.items() if k[0] >= before_slot}
        self._included = {k for k in self._included if k[0] >= before_slot}


def committee_attestation(spec: Any, fork: Fork, aggregate: CommitteeAggregate) -> Any:
    """Return one committee's aggregate as an `Attestation` of `fork` (fork choice, gossip)."""
    types = spec.types(fork)
    if fork >= Fork.ELECTRA:
        return _electra_attestation(spec, types, [aggregate])
    return types.Attestation(
        aggregation_bits=aggregate.bit_list(), data=aggregate.data, signature=aggregate.signature()
    )


def _electra_attestation(spec: Any, types: Any, aggregates: list[CommitteeAggregate]) -> Any:
    committee_bits = [False] * spec.MAX_COMMITTEES_PER_SLOT
    bits: list[bool] = []
    for aggregate in aggregates:
        committee_bits[aggregate.committee_index] = True
        bits.extend(aggregate.bit_list())
    signature = bls.Aggregate([a.signature() for a in aggregates])
    return types.Attestation(
        aggregation_bits=bits,
        data=aggregates[0].data,
        signature=bytes(signature),
        committee_bits=committee_bits,
    )


def _includable(spec: Any, state: Any, data: Any, fork: Fork) -> bool:
    """Return True when `process_attestation` on `state` accepts `data`'s timing and source."""
    slot, state_slot = int(data.slot), int(state.slot)
    target_epoch = int(data.target.epoch)
    current, previous = get_current_epoch(spec, state), get_previous_epoch(spec, state)
    if target_epoch not in (current, previous):
        return False
    if target_epoch != compute_epoch_at_slot(spec, slot):
        return False
    # Electra requires index 0, so votes signed before the fork with another index are dropped.
    if fork >= Fork.ELECTRA and int(data.index) != 0:
        return False
    if slot + spec.MIN_ATTESTATION_INCLUSION_DELAY > state_slot:
        return False
    # Deneb (EIP-7045) drops the one-epoch upper bound on inclusion.
    if fork < Fork.DENEB and state_slot > slot + spec.SLOTS_PER_EPOCH:
        return False
    justified = (
        state.current_justified_checkpoint
        if target_epoch == current
        else state.previous_justified_checkpoint
    )
    return int(data.source.epoch) == int(justified.epoch) and bytes(data.source.root) == bytes(
        justified.root
    )


class SyncCommitteePool:
    """Sync committee contributions by (slot, block root, subcommittee index)."""

    def __init__(self) -> None:
        self._contributions: dict[tuple[int, bytes, int], Any] = {}

    def add_contribution(self, contribution: Any) -> None:
        """Keep `contribution` unless one with more participants is already there."""
        key = (
            int(contribution.slot),
            bytes(contribution.beacon_block_root),
            int(contribution.subcommittee_index),
        )
        current = self._contributions.get(key)
        if current is None or sum(contribution.aggregation_bits) > sum(current.aggregation_bits):
            self._contributions[key] = contribution

    def sync_aggregate(self, spec: Any, types: Any, slot: int, block_root: bytes) -> Any:
        """Return the `SyncAggregate` for a block at `slot + 1` whose parent is `block_root`.

        Without contributions for that slot and root the aggregate is empty (no bits, the
        point at infinity as signature), which every block may carry.
        """
        size = spec.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT
        bits = [False] * spec.SYNC_COMMITTEE_SIZE
        signatures = []
        for subcommittee in range(SYNC_COMMITTEE_SUBNET_COUNT):
            contribution = self._contributions.get((slot, block_root, subcommittee))
            if contribution is None:
                continue
            for position, bit in enumerate(contribution.aggregation_bits):
                if bit:
                    bits[subcommittee * size + position] = True
            signatures.append(bytes(contribution.signature))
        signature = bytes(bls.Aggregate(signatures)) if signatures else G2_POINT_AT_INFINITY
        return types.SyncAggregate(sync_committee_bits=bits, sync_committee_signature=signature)

    def prune(self, before_slot: int) -> None:
        self._contributions = {k: v for k, v in self._contributions.items() if k[0] >= before_slot}
