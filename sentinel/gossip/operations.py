"""Gossip rules of the operation topics: exits, slashings and BLS-to-execution changes."""

from typing import Any

from caplin.config import constants
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.helpers import (
    compute_domain,
    get_current_epoch,
    is_active_validator,
    is_slashable_attestation_data,
    is_slashable_validator,
)
from sentinel.gossip.context import GossipContext
from sentinel.gossip.result import ignore_unless, reject_unless


def validate_voluntary_exit(context: GossipContext, signed_exit: Any, now_ms: int) -> None:
    """Apply the `voluntary_exit` rules."""
    spec = context.spec
    exit_message = signed_exit.message
    validator_index = int(exit_message.validator_index)
    ignore_unless(
        validator_index not in context.seen.voluntary_exit_indices,
        "already seen voluntary exit for this validator",
    )
    ignore_unless(
        not context.clock.is_future_epoch(int(exit_message.epoch), now_ms),
        "voluntary exit epoch is in the future",
    )
    state = context.chain.head_state()
    reject_unless(validator_index < len(state.validators), "validator index out of range")
    validator = state.validators[validator_index]
    current_epoch = get_current_epoch(spec, state)
    ignore_unless(
        int(validator.exit_epoch) == constants.FAR_FUTURE_EPOCH,
        "validator has already initiated exit",
    )
    reject_unless(is_active_validator(spec, validator, current_epoch), "validator is not active")
    reject_unless(
        current_epoch >= int(validator.activation_epoch) + int(spec.SHARD_COMMITTEE_PERIOD),
        "validator has not been active long enough",
    )
    # Deneb (EIP-7044): exits are signed for the Capella fork version forever.
    if context.fork >= Fork.DENEB:
        domain = compute_domain(
            spec,
            constants.DOMAIN_VOLUNTARY_EXIT,
            spec.fork_version(Fork.CAPELLA),
            bytes(state.genesis_validators_root),
        )
    else:
        domain = context.domain(state, constants.DOMAIN_VOLUNTARY_EXIT, int(exit_message.epoch))
    reject_unless(
        context.verify(validator.pubkey, exit_message, domain, signed_exit.signature),
        "invalid voluntary exit signature",
    )

    context.seen.voluntary_exit_indices.add(validator_index)


def validate_proposer_slashing(context: GossipContext, slashing: Any) -> None:
    """Apply the `proposer_slashing` rules."""
    header_1 = slashing.signed_header_1.message
    header_2 = slashing.signed_header_2.message
    proposer_index = int(header_1.proposer_index)
    ignore_unless(
        proposer_index not in context.seen.proposer_slashing_indices,
        "already seen proposer slashing for this proposer",
    )
    reject_unless(int(header_1.slot) == int(header_2.slot), "header slots do not match")
    reject_unless(
        int(header_1.proposer_index) == int(header_2.proposer_index),
        "header proposer indices do not match",
    )
    reject_unless(
        header_1.hash_tree_root() != header_2.hash_tree_root(), "headers are not different"
    )
    state = context.chain.head_state()
    reject_unless(proposer_index < len(state.validators), "proposer index out of range")
    proposer = state.validators[proposer_index]
    reject_unless(
        is_slashable_validator(context.spec, proposer, get_current_epoch(context.spec, state)),
        "proposer is not slashable",
    )
    for signed_header in (slashing.signed_header_1, slashing.signed_header_2):
        header = signed_header.message
        epoch = context.epoch_at(header.slot)
        domain = context.domain(state, constants.DOMAIN_BEACON_PROPOSER, epoch)
        reject_unless(
            context.verify(proposer.pubkey, header, domain, signed_header.signature),
            "invalid proposer slashing signature",
        )

    context.seen.proposer_slashing_indices.add(proposer_index)


def validate_attester_slashing(context: GossipContext, slashing: Any) -> None:
    """Apply the `attester_slashing` rules."""
    spec = context.spec
    attestation_1, attestation_2 = slashing.attestation_1, slashing.attestation_2
    indices_1 = {int(index) for index in attestation_1.attesting_indices}
    indices_2 = {int(index) for index in attestation_2.attesting_indices}
    slashable_indices = indices_1 & indices_2
    ignore_unless(
        slashable_indices - context.seen.attester_slashing_indices,
        "all attester slashing indices already seen",
    )
    reject_unless(
        is_slashable_attestation_data(spec, attestation_1.data, attestation_2.data),
        "attestation data is not slashable",
    )
    state = context.chain.head_state()
    validator_count = len(state.validators)
    for number, attestation, indices in (
        (1, attestation_1, indices_1),
        (2, attestation_2, indices_2),
    ):
        reject_unless(
            all(index < validator_count for index in indices),
            f"validator index out of range in indexed attestation {number}",
        )
        reject_unless(
            context.is_valid_indexed_attestation(state, attestation),
            f"invalid indexed attestation {number}",
        )
    current_epoch = get_current_epoch(spec, state)
    reject_unless(
        any(
            is_slashable_validator(spec, state.validators[index], current_epoch)
            for index in slashable_indices
        ),
        "no slashable validators in intersection",
    )

    context.seen.attester_slashing_indices.update(slashable_indices)


def validate_bls_to_execution_change(
    context: GossipContext, signed_change: Any, now_ms: int
) -> None:
    """Apply the `bls_to_execution_change` rules (Capella)."""
    spec = context.spec
    change = signed_change.message
    validator_index = int(change.validator_index)
    ignore_unless(
        validator_index not in context.seen.bls_to_execution_change_indices,
        "already seen BLS to execution change for this validator",
    )
    ignore_unless(
        not context.clock.is_future_epoch(int(spec.CAPELLA_FORK_EPOCH), now_ms),
        "current epoch is pre-capella",
    )
    state = context.chain.head_state()
    reject_unless(validator_index < len(state.validators), "validator index out of range")
    credentials = bytes(state.validators[validator_index].withdrawal_credentials)
    reject_unless(
        credentials[:1] == constants.BLS_WITHDRAWAL_PREFIX,
        "validator does not have BLS withdrawal credentials",
    )
    pubkey = bytes(change.from_bls_pubkey)
    reject_unless(
        credentials[1:] == sha256(pubkey)[1:],
        "pubkey does not match validator withdrawal credentials",
    )
    # The domain has no fork version: a change stays valid across forks.
    domain = compute_domain(
        spec,
        constants.DOMAIN_BLS_TO_EXECUTION_CHANGE,
        None,
        bytes(state.genesis_validators_root),
    )
    reject_unless(
        context.verify(pubkey, change, domain, signed_change.signature),
        "invalid BLS to execution change signature",
    )

    context.seen.bls_to_execution_change_indices.add(validator_index)
