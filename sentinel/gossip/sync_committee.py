"""Gossip rules of `sync_committee_{subnet_id}` and `sync_committee_contribution_and_proof`."""

from typing import Any

from caplin.config import constants
from caplin.crypto import bls
from caplin.crypto.hash import sha256
from caplin.transition.helpers import compute_signing_root
from sentinel.gossip.context import GossipContext
from sentinel.gossip.result import ignore_unless, reject_unless
from sentinel.gossip.seen import is_non_strict_superset


def _signing_committee(spec: Any, state: Any) -> Any:
    # The committee assigned to a slot signs the block of the slot before, so at
    # the last slot of a period the next period's committee is the one signing.
    epochs_per_period = int(spec.EPOCHS_PER_SYNC_COMMITTEE_PERIOD)
    current_epoch = int(state.slot) // int(spec.SLOTS_PER_EPOCH)
    next_slot_epoch = (int(state.slot) + 1) // int(spec.SLOTS_PER_EPOCH)
    if current_epoch // epochs_per_period == next_slot_epoch // epochs_per_period:
        return state.current_sync_committee
    return state.next_sync_committee


def _subcommittee_size(spec: Any) -> int:
    return int(spec.SYNC_COMMITTEE_SIZE) // constants.SYNC_COMMITTEE_SUBNET_COUNT


def get_sync_subcommittee_pubkeys(spec: Any, state: Any, subcommittee_index: int) -> list[bytes]:
    """Return the pubkeys of one sync subcommittee, in committee order."""
    size = _subcommittee_size(spec)
    start = int(subcommittee_index) * size
    pubkeys = _signing_committee(spec, state).pubkeys
    return [bytes(pubkeys[position]) for position in range(start, start + size)]


def compute_subnets_for_sync_committee(spec: Any, state: Any, validator_index: int) -> set[int]:
    """Return the sync committee subnets `validator_index` may publish on."""
    target = bytes(state.validators[validator_index].pubkey)
    size = _subcommittee_size(spec)
    committee = _signing_committee(spec, state)
    return {
        position // size
        for position, pubkey in enumerate(committee.pubkeys)
        if bytes(pubkey) == target
    }


def is_sync_committee_aggregator(spec: Any, signature: bytes) -> bool:
    """Tell whether a selection proof makes its signer an aggregator of its subcommittee."""
    modulo = max(
        1,
        int(spec.SYNC_COMMITTEE_SIZE)
        // constants.SYNC_COMMITTEE_SUBNET_COUNT
        // constants.TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE,
    )
    return int.from_bytes(sha256(bytes(signature))[:8], "little") % modulo == 0


def validate_sync_committee_message(
    context: GossipContext, message: Any, now_ms: int, subnet_id: int
) -> None:
    """Apply the `sync_committee_{subnet_id}` rules (Altair)."""
    spec = context.spec
    slot, validator_index = int(message.slot), int(message.validator_index)
    key = (slot, validator_index, int(subnet_id))
    ignore_unless(
        key not in context.seen.sync_message_validator_slots,
        "already seen message from this validator for this slot and subnet",
    )
    ignore_unless(
        context.clock.is_current_slot(slot, now_ms), "message is not for the current slot"
    )
    state = context.chain.head_state()
    reject_unless(validator_index < len(state.validators), "validator index out of range")
    reject_unless(
        int(subnet_id) in compute_subnets_for_sync_committee(spec, state, validator_index),
        "subnet_id is not valid for the validator",
    )
    pubkey = state.validators[validator_index].pubkey
    domain = context.domain(state, constants.DOMAIN_SYNC_COMMITTEE, context.epoch_at(slot))
    reject_unless(
        context.verify(pubkey, bytes(message.beacon_block_root), domain, message.signature),
        "invalid sync committee message signature",
    )

    context.seen.sync_message_validator_slots.add(key)


def validate_sync_committee_contribution_and_proof(
    context: GossipContext, signed_contribution: Any, now_ms: int
) -> None:
    """Apply the `sync_committee_contribution_and_proof` rules (Altair)."""
    spec = context.spec
    contribution_and_proof = signed_contribution.message
    contribution = contribution_and_proof.contribution
    slot = int(contribution.slot)
    subcommittee_index = int(contribution.subcommittee_index)
    aggregator_index = int(contribution_and_proof.aggregator_index)

    data_key = (slot, bytes(contribution.beacon_block_root), subcommittee_index)
    bits_key = tuple(bool(bit) for bit in contribution.aggregation_bits)
    ignore_unless(
        not is_non_strict_superset(
            context.seen.sync_contribution_data.get(data_key, set()), bits_key
        ),
        "already seen contribution for this data",
    )
    aggregator_key = (slot, aggregator_index, subcommittee_index)
    ignore_unless(
        aggregator_key not in context.seen.sync_contribution_aggregator_slots,
        "already seen contribution from this aggregator",
    )
    ignore_unless(
        context.clock.is_current_slot(slot, now_ms), "contribution is not for the current slot"
    )
    reject_unless(
        subcommittee_index < constants.SYNC_COMMITTEE_SUBNET_COUNT,
        "subcommittee index out of range",
    )
    reject_unless(any(bits_key), "contribution has no participants")
    reject_unless(
        is_sync_committee_aggregator(spec, contribution_and_proof.selection_proof),
        "validator is not selected as aggregator",
    )
    state = context.chain.head_state()
    reject_unless(aggregator_index < len(state.validators), "aggregator index out of range")
    aggregator_pubkey = bytes(state.validators[aggregator_index].pubkey)
    subcommittee = get_sync_subcommittee_pubkeys(spec, state, subcommittee_index)
    reject_unless(aggregator_pubkey in subcommittee, "aggregator is not a member of the committee")

    epoch = context.epoch_at(slot)
    types = spec.types(context.fork)
    selection_data = types.SyncAggregatorSelectionData(
        slot=slot, subcommittee_index=subcommittee_index
    )
    domain = context.domain(state, constants.DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF, epoch)
    reject_unless(
        context.verify(
            aggregator_pubkey, selection_data, domain, contribution_and_proof.selection_proof
        ),
        "invalid selection proof signature",
    )
    domain = context.domain(state, constants.DOMAIN_CONTRIBUTION_AND_PROOF, epoch)
    reject_unless(
        context.verify(
            aggregator_pubkey, contribution_and_proof, domain, signed_contribution.signature
        ),
        "invalid aggregator signature",
    )
    participants = [pubkey for pubkey, bit in zip(subcommittee, bits_key, strict=True) if bit]
    domain = context.domain(state, constants.DOMAIN_SYNC_COMMITTEE, epoch)
    signing_root = compute_signing_root(spec, bytes(contribution.beacon_block_root), domain)
    reject_unless(
        bls.eth_fast_aggregate_verify(participants, signing_root, bytes(contribution.signature)),
        "invalid aggregate signature",
    )

    context.seen.sync_contribution_aggregator_slots.add(aggregator_key)
    context.seen.sync_contribution_data.setdefault(data_key, set()).add(bits_key)
