"""Gossip rules of `beacon_attestation_{subnet_id}` and `beacon_aggregate_and_proof`."""

from typing import Any

from remerkleable.basic import uint64

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.helpers import (
    get_attesting_indices,
    get_beacon_committee,
    get_committee_count_per_slot,
    get_committee_indices,
    get_indexed_attestation,
)
from sentinel.gossip.context import GossipContext
from sentinel.gossip.result import ignore_unless, reject_unless
from sentinel.gossip.seen import is_non_strict_superset


def compute_subnet_for_attestation(
    spec: Any, committees_per_slot: int, slot: int, committee_index: int
) -> int:
    """Return the attestation subnet of committee `committee_index` at `slot`."""
    slots_since_epoch_start = int(slot) % int(spec.SLOTS_PER_EPOCH)
    committees_since_epoch_start = committees_per_slot * slots_since_epoch_start
    return (committees_since_epoch_start + int(committee_index)) % int(
        spec.ATTESTATION_SUBNET_COUNT
    )


def is_aggregator(spec: Any, committee_size: int, slot_signature: bytes) -> bool:
    """Tell whether a selection proof makes its signer an aggregator of a committee."""
    modulo = max(1, committee_size // constants.TARGET_AGGREGATORS_PER_COMMITTEE)
    return int.from_bytes(sha256(bytes(slot_signature))[:8], "little") % modulo == 0


def _check_time(context: GossipContext, slot: int, now_ms: int, subject: str) -> None:
    clock = context.clock
    # Deneb (EIP-7045): attestations count for the whole of the current and previous epoch.
    if context.fork >= Fork.DENEB:
        ignore_unless(
            not clock.is_future_slot(slot, now_ms), f"{subject} slot is from a future slot"
        )
        ignore_unless(
            clock.is_current_or_previous_epoch(context.epoch_at(slot), now_ms),
            f"{subject} epoch is not current or previous epoch",
        )
    else:
        slot_range = int(context.spec.ATTESTATION_PROPAGATION_SLOT_RANGE)
        ignore_unless(
            clock.is_within_slot_range(slot, slot_range, now_ms),
            "attestation slot not within propagation range",
        )


def _check_voted_block(context: GossipContext, block_root: bytes) -> None:
    ignore_unless(context.chain.has_block(block_root), "block being voted for has not been seen")
    reject_unless(
        context.chain.get_block_state(block_root) is not None,
        "block being voted for failed validation",
    )


def _check_ancestry(context: GossipContext, data: Any) -> None:
    block_root = bytes(data.beacon_block_root)
    target_block = context.chain.get_checkpoint_block(block_root, int(data.target.epoch))
    reject_unless(
        target_block == bytes(data.target.root),
        "target block is not an ancestor of LMD vote block",
    )
    ignore_unless(
        context.is_finalized_ancestor(block_root),
        "finalized checkpoint is not an ancestor of block",
    )


def validate_beacon_attestation(
    context: GossipContext, attestation: Any, now_ms: int, subnet_id: int
) -> None:
    """Apply the unaggregated attestation rules; Electra's messages are `SingleAttestation`s."""
    spec = context.spec
    data = attestation.data
    slot, target_epoch = int(data.slot), int(data.target.epoch)
    electra = context.fork >= Fork.ELECTRA
    if electra:
        committee_index = int(attestation.committee_index)
        attester_index = int(attestation.attester_index)
        ignore_unless(
            (target_epoch, attester_index) not in context.seen.attestation_validator_epochs,
            "already seen attestation for this epoch and validator",
        )
        reject_unless(int(data.index) == 0, "attestation data index is non-zero")
    else:
        committee_index = int(data.index)

    block_root = bytes(data.beacon_block_root)
    _check_voted_block(context, block_root)
    state = context.chain.head_state()

    committees_per_slot = get_committee_count_per_slot(spec, state, target_epoch)
    reject_unless(committee_index < committees_per_slot, "committee index out of range")
    expected_subnet = compute_subnet_for_attestation(
        spec, committees_per_slot, slot, committee_index
    )
    reject_unless(expected_subnet == int(subnet_id), "attestation is for wrong subnet")
    _check_time(context, slot, now_ms, "attestation")
    reject_unless(
        target_epoch == context.epoch_at(slot), "attestation epoch does not match target epoch"
    )
    committee = get_beacon_committee(spec, state, slot, committee_index)

    if electra:
        reject_unless(attester_index in committee, "attester is not a member of the committee")
        pubkey = state.validators[attester_index].pubkey
        domain = context.domain(state, constants.DOMAIN_BEACON_ATTESTER, target_epoch)
        reject_unless(
            context.verify(pubkey, data, domain, attestation.signature),
            "invalid attestation signature",
        )
    else:
        bits = attestation.aggregation_bits
        set_bits = [position for position, bit in enumerate(bits) if bit]
        reject_unless(len(set_bits) == 1, "attestation is not unaggregated")
        reject_unless(
            len(bits) == len(committee), "aggregation bits length does not match committee size"
        )
        attester_index = int(committee[set_bits[0]])
        ignore_unless(
            (target_epoch, attester_index) not in context.seen.attestation_validator_epochs,
            "already seen attestation for this epoch and validator",
        )
        indexed = get_indexed_attestation(spec, state, attestation)
        reject_unless(
            context.is_valid_indexed_attestation(state, indexed), "invalid attestation signature"
        )
    _check_ancestry(context, data)

    context.seen.attestation_validator_epochs.add((target_epoch, attester_index))


def validate_beacon_aggregate_and_proof(
    context: GossipContext, signed_aggregate: Any, now_ms: int
) -> None:
    """Apply the `beacon_aggregate_and_proof` rules."""
    spec = context.spec
    aggregate_and_proof = signed_aggregate.message
    aggregate = aggregate_and_proof.aggregate
    data = aggregate.data
    slot, target_epoch = int(data.slot), int(data.target.epoch)

    # Electra (EIP-7549): the committee moved from `data.index` to `committee_bits`.
    if context.fork >= Fork.ELECTRA:
        reject_unless(int(data.index) == 0, "aggregate data index is non-zero")
        committee_indices = get_committee_indices(spec, aggregate.committee_bits)
        reject_unless(
            len(committee_indices) == 1,
            "aggregate committee bits must specify exactly one committee",
        )
        index = int(committee_indices[0])
    else:
        index = int(data.index)

    bits_key = tuple(bool(bit) for bit in aggregate.aggregation_bits)
    data_key = (target_epoch, bytes(data.hash_tree_root()), index)
    ignore_unless(
        not is_non_strict_superset(
            context.seen.aggregate_data_roots.get(data_key, set()), bits_key
        ),
        "already seen aggregate for this data",
    )
    aggregator_index = int(aggregate_and_proof.aggregator_index)
    aggregator_key = (target_epoch, aggregator_index)
    ignore_unless(
        aggregator_key not in context.seen.aggregator_epochs,
        "already seen aggregate for this epoch and aggregator",
    )
    block_root = bytes(data.beacon_block_root)
    _check_voted_block(context, block_root)
    state = context.chain.head_state()

    committee_count = get_committee_count_per_slot(spec, state, target_epoch)
    reject_unless(index < committee_count, "committee index out of range")
    _check_time(context, slot, now_ms, "aggregate")
    reject_unless(
        target_epoch == context.epoch_at(slot), "attestation epoch does not match target epoch"
    )
    committee = [int(member) for member in get_beacon_committee(spec, state, slot, index)]
    reject_unless(
        len(aggregate.aggregation_bits) == len(committee),
        "aggregation bits length does not match committee size",
    )
    reject_unless(
        len(get_attesting_indices(spec, state, aggregate)) >= 1, "aggregate has no participants"
    )
    reject_unless(
        is_aggregator(spec, len(committee), aggregate_and_proof.selection_proof),
        "validator is not selected as aggregator",
    )
    reject_unless(aggregator_index in committee, "aggregator is not a member of the committee")

    pubkey = state.validators[aggregator_index].pubkey
    domain = context.domain(state, constants.DOMAIN_SELECTION_PROOF, target_epoch)
    reject_unless(
        context.verify(pubkey, uint64(slot), domain, aggregate_and_proof.selection_proof),
        "invalid selection proof signature",
    )
    domain = context.domain(state, constants.DOMAIN_AGGREGATE_AND_PROOF, target_epoch)
    reject_unless(
        context.verify(pubkey, aggregate_and_proof, domain, signed_aggregate.signature),
        "invalid aggregator signature",
    )
    indexed = get_indexed_attestation(spec, state, aggregate)
    reject_unless(
        context.is_valid_indexed_attestation(state, indexed), "invalid aggregate signature"
    )
    _check_ancestry(context, data)

    context.seen.aggregator_epochs.add(aggregator_key)
    context.seen.aggregate_data_roots.setdefault(data_key, set()).add(bits_key)
