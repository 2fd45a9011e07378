"""The spec's `is_*` and `has_*` predicates on validators, attestations and withdrawals.

Predicates whose rule changed at a fork but that see no state take the fork as the
keyword-only argument `fork` (pass `spec.fork_of(state)`).
"""

from typing import Any

import numpy as np

from caplin.config.constants import (
    COMPOUNDING_WITHDRAWAL_PREFIX,
    DOMAIN_BEACON_ATTESTER,
    ETH1_ADDRESS_WITHDRAWAL_PREFIX,
    FAR_FUTURE_EPOCH,
)
from caplin.config.forks import Fork
from caplin.transition.helpers.accessors import get_domain
from caplin.transition.helpers.misc import compute_signing_root
from caplin.transition.helpers.registry import validator_table


def is_active_validator(spec: Any, validator: Any, epoch: int) -> bool:
    return int(validator.activation_epoch) <= epoch < int(validator.exit_epoch)


def is_eligible_for_activation_queue(
    spec: Any, validator: Any, *, fork: Fork | None = None
) -> bool:
    """Return True when `validator` may join the activation queue.

    Electra lowers the balance requirement from MAX_EFFECTIVE_BALANCE to MIN_ACTIVATION_BALANCE.
    Both are 32 ETH in the mainnet and minimal presets, so `fork` may be omitted there.
    """
    if fork is not None and fork < Fork.ELECTRA:
        required = spec.MAX_EFFECTIVE_BALANCE
    else:
        required = spec.MIN_ACTIVATION_BALANCE
    return (
        int(validator.activation_eligibility_epoch) == FAR_FUTURE_EPOCH
        and int(validator.effective_balance) >= required
    )


def is_eligible_for_activation(spec: Any, state: Any, validator: Any) -> bool:
    """Return True when `validator` was queued by a finalized epoch and is not yet active."""
    return (
        int(validator.activation_eligibility_epoch) <= int(state.finalized_checkpoint.epoch)
        and int(validator.activation_epoch) == FAR_FUTURE_EPOCH
    )


def is_slashable_validator(spec: Any, validator: Any, epoch: int) -> bool:
    return (not validator.slashed) and (
        int(validator.activation_epoch) <= epoch < int(validator.withdrawable_epoch)
    )


def is_slashable_attestation_data(spec: Any, data_1: Any, data_2: Any) -> bool:
    """Return True for a Casper FFG double vote or surround vote."""
    double_vote = data_1.hash_tree_root() != data_2.hash_tree_root() and int(
        data_1.target.epoch
    ) == int(data_2.target.epoch)
    surround_vote = int(data_1.source.epoch) < int(data_2.source.epoch) and int(
        data_2.target.epoch
    ) < int(data_1.target.epoch)
    return double_vote or surround_vote


def has_eth1_withdrawal_credential(spec: Any, validator: Any) -> bool:
    """Return True for a 0x01 (execution address) withdrawal credential (capella)."""
    return bytes(validator.withdrawal_credentials)[:1] == ETH1_ADDRESS_WITHDRAWAL_PREFIX


def is_compounding_withdrawal_credential(spec: Any, withdrawal_credentials: bytes) -> bool:
    return bytes(withdrawal_credentials)[:1] == COMPOUNDING_WITHDRAWAL_PREFIX


def has_compounding_withdrawal_credential(spec: Any, validator: Any) -> bool:
    """Return True for a 0x02 (compounding) withdrawal credential (electra)."""
    return is_compounding_withdrawal_credential(spec, validator.withdrawal_credentials)


def has_execution_withdrawal_credential(spec: Any, validator: Any) -> bool:
    """Return True for a 0x01 or 0x02 withdrawal credential (electra)."""
    return has_eth1_withdrawal_credential(spec, validator) or has_compounding_withdrawal_credential(
        spec, validator
    )


def get_max_effective_balance(spec: Any, validator: Any) -> int:
    """Return the effective balance cap of `validator`: 2048 ETH if 0x02, else 32 (electra)."""
    if has_compounding_withdrawal_credential(spec, validator):
        return spec.MAX_EFFECTIVE_BALANCE_ELECTRA
    return spec.MIN_ACTIVATION_BALANCE


def is_fully_withdrawable_validator(
    spec: Any, validator: Any, balance: int, epoch: int, *, fork: Fork
) -> bool:
    """Return True when the whole balance of `validator` can be withdrawn at `epoch` (capella).

    Electra also accepts compounding (0x02) credentials.
    """
    if fork >= Fork.ELECTRA:
        has_credential = has_execution_withdrawal_credential(spec, validator)
    else:
        has_credential = has_eth1_withdrawal_credential(spec, validator)
    return has_credential and int(validator.withdrawable_epoch) <= epoch and balance > 0


def is_partially_withdrawable_validator(
    spec: Any, validator: Any, balance: int, *, fork: Fork
) -> bool:
    """Return True when `validator` is at its cap with excess balance to sweep (capella).

    Electra uses the per-credential cap of `get_max_effective_balance` and 0x02 credentials.
    """
    if fork >= Fork.ELECTRA:
        max_effective_balance = get_max_effective_balance(spec, validator)
        has_credential = has_execution_withdrawal_credential(spec, validator)
    else:
        max_effective_balance = spec.MAX_EFFECTIVE_BALANCE
        has_credential = has_eth1_withdrawal_credential(spec, validator)
    return (
        has_credential
        and int(validator.effective_balance) == max_effective_balance
        and balance > max_effective_balance
    )


def is_eligible_for_partial_withdrawals(spec: Any, validator: Any, balance: int) -> bool:
    """Return True when a pending partial withdrawal of `validator` may be paid (electra)."""
    return (
        int(validator.exit_epoch) == FAR_FUTURE_EPOCH
        and int(validator.effective_balance) >= spec.MIN_ACTIVATION_BALANCE
        and balance > spec.MIN_ACTIVATION_BALANCE
    )


def is_merge_transition_complete(spec: Any, state: Any) -> bool:
    """Return True once the state has a non-default execution payload header (bellatrix)."""
    header = state.latest_execution_payload_header
    return header.hash_tree_root() != type(header)().hash_tree_root()


def is_execution_enabled(spec: Any, state: Any, body: Any) -> bool:
    """Return True when the block must carry an execution payload (bellatrix)."""
    if is_merge_transition_complete(spec, state):
        return True
    payload = body.execution_payload
    return payload.hash_tree_root() != type(payload)().hash_tree_root()


def is_valid_indexed_attestation(
    spec: Any, state: Any, indexed_attestation: Any, sigs: Any
) -> bool:
    """Check the attesting indices of `indexed_attestation` and queue its signature on `sigs`.

    Returns False when the indices are empty, unsorted, repeated or unknown. Otherwise the
    aggregate signature is added to the `SignatureBatch` `sigs`, which the caller verifies.
    """
    return queue_attestation_signature(
        spec,
        state,
        [int(index) for index in indexed_attestation.attesting_indices],
        indexed_attestation.data,
        bytes(indexed_attestation.signature),
        sigs,
    )


def queue_attestation_signature(
    spec: Any, state: Any, indices: list[int], data: Any, signature: bytes, sigs: Any
) -> bool:
    """Do what `is_valid_indexed_attestation` does, on attesting indices as a list of ints.

    Block processing calls this directly, which saves building and reading back an SSZ list
    of up to MAX_VALIDATORS_PER_COMMITTEE * MAX_COMMITTEES_PER_SLOT indices.
    """
    if not indices or indices != sorted(set(indices)):
        return False
    if indices[-1] >= len(state.validators):
        return False

    # One gather from the pubkey column, then 48-byte slices of its bytes.
    packed = validator_table(state).records["pubkey"][np.asarray(indices)].tobytes()
    pubkeys = [packed[start : start + 48] for start in range(0, len(packed), 48)]
    domain = get_domain(spec, state, DOMAIN_BEACON_ATTESTER, int(data.target.epoch))
    sigs.add(
        pubkeys,
        compute_signing_root(spec, data, domain),
        signature,
        "attestation",
        slot=int(data.slot),
        target_epoch=int(data.target.epoch),
    )
    return True
