"""Operation pools: what the node's validators and gossip collect for the next blocks.

`AttestationPool` and `SyncCommitteePool` keep only recent slots (`prune`) and give the
proposer what a block on a given state can include. `AttestationPool.for_block` checks each
aggregate's inclusion window and source checkpoint as `process_attestation` does. From
electra it packs the aggregates of one attestation data into a single on-chain attestation
(EIP-7549). `OperationPool` keeps exits, slashings and BLS-to-execution changes until the
chain includes them, and `SidecarPool` the blob and data column sidecars seen on gossip.

The validator duties (worker threads) and gossip (the trio loop and its worker threads)
share these pools, so every method takes the pool's lock.
"""

import threading
from dataclasses import dataclass, field
from typing import Any

from caplin.config.constants import (
    BLS_WITHDRAWAL_PREFIX,
    FAR_FUTURE_EPOCH,
    G2_POINT_AT_INFINITY,
    SYNC_COMMITTEE_SUBNET_COUNT,
)
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
        self._lock = threading.RLock()

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
        with self._lock:
            aggregate = self._aggregate_of(data, committee_index, committee_size)
            for position, signature in votes:
                if position not in aggregate.bits:
                    aggregate.bits.add(position)
                    aggregate.signatures.append(signature)
            return aggregate

    def add_aggregate(
        self,
        data: Any,
        committee_index: int,
        committee_size: int,
        bits: set[int],
        signature: bytes,
    ) -> bool:
        """Merge an aggregate (committee positions `bits` under one aggregate `signature`).

        An aggregate that shares no position with the pooled one is added to it. One that
        covers every pooled position replaces it. Any other overlap cannot be combined,
        because a signature can be aggregated only once, so that aggregate is dropped.
        Returns True when the pool changed.
        """
        if not bits:
            return False
        with self._lock:
            aggregate = self._aggregate_of(data, committee_index, committee_size)
            if bits <= aggregate.bits:
                return False
            if not bits & aggregate.bits:
                aggregate.bits |= bits
                aggregate.signatures.append(bytes(signature))
                return True
            if bits >= aggregate.bits:
                aggregate.bits = set(bits)
                aggregate.signatures = [bytes(signature)]
                return True
            return False

    def _aggregate_of(self, data: Any, committee_index: int, committee_size: int) -> Any:
        slot = int(data.slot)
        key = (slot, committee_index, bytes(data.hash_tree_root()))
        aggregate = self._aggregates.get(key)
        if aggregate is None:
            aggregate = CommitteeAggregate(slot, committee_index, committee_size, data)
            self._aggregates[key] = aggregate
        return aggregate

    def aggregates_at(self, slot: int) -> list[CommitteeAggregate]:
        with self._lock:
            return [a for (s, _, _), a in self._aggregates.items() if s == slot]

    def aggregates(self) -> list[CommitteeAggregate]:
        """Return every pooled committee aggregate."""
        with self._lock:
            return list(self._aggregates.values())

    def for_block(self, spec: Any, state: Any, limit: int) -> list[Any]:
        """Return up to `limit` on-chain attestations a block on `state` may include, newest
        first, and mark them included."""
        with self._lock:
            return self._for_block(spec, state, limit)

    def _for_block(self, spec: Any, state: Any, limit: int) -> list[Any]:
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
        with self._lock:
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
    """Sync committee contributions and single messages by (slot, block root, subcommittee).

    A block's `SyncAggregate` takes, per subcommittee, whichever covers more positions: the
    best contribution, or the single messages collected from its subnet.
    """

    def __init__(self) -> None:
        self._contributions: dict[tuple[int, bytes, int], Any] = {}
        # (slot, block root, subcommittee) -> position in the subcommittee -> signature
        self._messages: dict[tuple[int, bytes, int], dict[int, bytes]] = {}
        self._lock = threading.RLock()

    def add_contribution(self, contribution: Any) -> None:
        """Keep `contribution` unless one with more participants is already there."""
        key = (
            int(contribution.slot),
            bytes(contribution.beacon_block_root),
            int(contribution.subcommittee_index),
        )
        with self._lock:
            current = self._contributions.get(key)
            participants = sum(contribution.aggregation_bits)
            if current is None or participants > sum(current.aggregation_bits):
                self._contributions[key] = contribution

    def add_message(
        self,
        slot: int,
        block_root: bytes,
        subcommittee_index: int,
        positions: list[int],
        signature: bytes,
    ) -> None:
        """Add one validator's `SyncCommitteeMessage` at its `positions` in a subcommittee.

        A validator may sit at several positions; its one signature counts at each.
        """
        key = (int(slot), bytes(block_root), int(subcommittee_index))
        with self._lock:
            collected = self._messages.setdefault(key, {})
            for position in positions:
                collected.setdefault(int(position), bytes(signature))

    def sync_aggregate(self, spec: Any, types: Any, slot: int, block_root: bytes) -> Any:
        """Return the `SyncAggregate` for a block at `slot + 1` whose parent is `block_root`.

        Without contributions or messages for that slot and root the aggregate is empty (no
        bits, the point at infinity as signature), which every block may carry.
        """
        size = spec.SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT
        bits = [False] * spec.SYNC_COMMITTEE_SIZE
        signatures = []
        with self._lock:
            for subcommittee in range(SYNC_COMMITTEE_SUBNET_COUNT):
                key = (slot, bytes(block_root), subcommittee)
                positions, subcommittee_signatures = self._best_of(key)
                for position in positions:
                    bits[subcommittee * size + position] = True
                signatures.extend(subcommittee_signatures)
        signature = bytes(bls.Aggregate(signatures)) if signatures else G2_POINT_AT_INFINITY
        return types.SyncAggregate(sync_committee_bits=bits, sync_committee_signature=signature)

    def _best_of(self, key: tuple[int, bytes, int]) -> tuple[list[int], list[bytes]]:
        contribution = self._contributions.get(key)
        from_contribution: list[int] = []
        if contribution is not None:
            from_contribution = [i for i, bit in enumerate(contribution.aggregation_bits) if bit]
        messages = self._messages.get(key, {})
        if len(messages) > len(from_contribution):
            # A validator at two positions signs once but its signature counts twice, as
            # `process_sync_aggregate` sums one pubkey per set bit.
            return sorted(messages), [messages[position] for position in sorted(messages)]
        if contribution is None:
            return [], []
        return from_contribution, [bytes(contribution.signature)]

    def prune(self, before_slot: int) -> None:
        with self._lock:
            self._contributions = {
                k: v for k, v in self._contributions.items() if k[0] >= before_slot
            }
            self._messages = {k: v for k, v in self._messages.items() if k[0] >= before_slot}


class OperationPool:
    """Voluntary exits, slashings and BLS-to-execution changes waiting for a block.

    Each is kept once per validator (exits and BLS changes), per proposer (proposer
    slashings) or per root (attester slashings). `prune` drops the ones a state shows
    included or no longer applicable.
    """

    def __init__(self) -> None:
        self._exits: dict[int, Any] = {}
        self._proposer_slashings: dict[int, Any] = {}
        self._attester_slashings: dict[bytes, Any] = {}
        self._bls_changes: dict[int, Any] = {}
        self._lock = threading.RLock()

    def add_voluntary_exit(self, signed_exit: Any) -> None:
        with self._lock:
            self._exits.setdefault(int(signed_exit.message.validator_index), signed_exit)

    def add_proposer_slashing(self, slashing: Any) -> None:
        index = int(slashing.signed_header_1.message.proposer_index)
        with self._lock:
            self._proposer_slashings.setdefault(index, slashing)

    def add_attester_slashing(self, slashing: Any) -> None:
        with self._lock:
            self._attester_slashings.setdefault(bytes(slashing.hash_tree_root()), slashing)

    def add_bls_to_execution_change(self, signed_change: Any) -> None:
        index = int(signed_change.message.validator_index)
        with self._lock:
            self._bls_changes.setdefault(index, signed_change)

    def voluntary_exits(self) -> list[Any]:
        with self._lock:
            return list(self._exits.values())

    def proposer_slashings(self) -> list[Any]:
        with self._lock:
            return list(self._proposer_slashings.values())

    def attester_slashings(self) -> list[Any]:
        with self._lock:
            return list(self._attester_slashings.values())

    def bls_to_execution_changes(self) -> list[Any]:
        with self._lock:
            return list(self._bls_changes.values())

    def __len__(self) -> int:
        with self._lock:
            return (
                len(self._exits)
                + len(self._proposer_slashings)
                + len(self._attester_slashings)
                + len(self._bls_changes)
            )

    def prune(self, state: Any) -> None:
        """Drop what `state` shows done: exits initiated, proposers slashed, every attester
        of a slashing slashed, and withdrawal credentials no longer BLS."""
        validators = state.validators
        count = len(validators)

        def exited(index: int) -> bool:
            return index >= count or int(validators[index].exit_epoch) != FAR_FUTURE_EPOCH

        def slashed(index: int) -> bool:
            return index >= count or bool(validators[index].slashed)

        def changed(index: int) -> bool:
            if index >= count:
                return True
            return bytes(validators[index].withdrawal_credentials)[:1] != BLS_WITHDRAWAL_PREFIX

        with self._lock:
            self._exits = {i: e for i, e in self._exits.items() if not exited(i)}
            self._proposer_slashings = {
                i: s for i, s in self._proposer_slashings.items() if not slashed(i)
            }
            self._attester_slashings = {
                root: slashing
                for root, slashing in self._attester_slashings.items()
                if not all(slashed(i) for i in _slashable_indices(slashing))
            }
            self._bls_changes = {i: c for i, c in self._bls_changes.items() if not changed(i)}


def _slashable_indices(slashing: Any) -> set[int]:
    first = {int(i) for i in slashing.attestation_1.attesting_indices}
    return first & {int(i) for i in slashing.attestation_2.attesting_indices}


class SidecarPool:
    """Blob sidecars (Deneb, Electra) and data column sidecars (Fulu) seen on gossip.

    Keyed by (block root, index); `prune` drops those of slots before a given slot.
    """

    def __init__(self) -> None:
        self._blobs: dict[tuple[bytes, int], Any] = {}
        self._columns: dict[tuple[bytes, int], Any] = {}
        self._lock = threading.RLock()

    def add_blob_sidecar(self, sidecar: Any) -> None:
        with self._lock:
            self._blobs[(_sidecar_block_root(sidecar), int(sidecar.index))] = sidecar

    def add_data_column_sidecar(self, sidecar: Any) -> None:
        with self._lock:
            self._columns[(_sidecar_block_root(sidecar), int(sidecar.index))] = sidecar

    def blob_sidecar(self, block_root: bytes, index: int) -> Any | None:
        with self._lock:
            return self._blobs.get((bytes(block_root), int(index)))

    def data_column_sidecar(self, block_root: bytes, index: int) -> Any | None:
        with self._lock:
            return self._columns.get((bytes(block_root), int(index)))

    def counts(self) -> tuple[int, int]:
        """Return how many (blob sidecars, data column sidecars) are pooled."""
        with self._lock:
            return len(self._blobs), len(self._columns)

    def prune(self, before_slot: int) -> None:
        with self._lock:
            self._blobs = {k: v for k, v in self._blobs.items() if _slot(v) >= before_slot}
            self._columns = {k: v for k, v in self._columns.items() if _slot(v) >= before_slot}


def _sidecar_block_root(sidecar: Any) -> bytes:
    return bytes(sidecar.signed_block_header.message.hash_tree_root())


def _slot(sidecar: Any) -> int:
    return int(sidecar.signed_block_header.message.slot)
