"""process_voluntary_exit: start the exit of a validator that signed a voluntary exit."""

from typing import Any

from caplin.config.constants import DOMAIN_VOLUNTARY_EXIT, FAR_FUTURE_EPOCH
from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.helpers import (
    compute_domain,
    compute_signing_root,
    get_current_epoch,
    get_domain,
    get_pending_balance_to_withdraw,
    initiate_validator_exit,
    is_active_validator,
)
from caplin.transition.signatures import SignatureBatch

from ._common import require_validator_index, uint64_checked


@uint64_checked("voluntary_exit")
def process_voluntary_exit(
    spec: Any, state: Any, signed_voluntary_exit: Any, sigs: SignatureBatch
) -> None:
    """Check the exit, add its signature to `sigs` and initiate the validator's exit."""
    fork = spec.fork_of(state)
    voluntary_exit = signed_voluntary_exit.message
    index = int(voluntary_exit.validator_index)
    exit_epoch = int(voluntary_exit.epoch)
    require_validator_index(state, index, "voluntary_exit.validator_index")
    validator = state.validators[index]
    current_epoch = get_current_epoch(spec, state)

    require(
        is_active_validator(spec, validator, current_epoch),
        "voluntary_exit.not_active",
        "validator is not active",
        validator_index=index,
        epoch=current_epoch,
    )
    require(
        int(validator.exit_epoch) == FAR_FUTURE_EPOCH,
        "voluntary_exit.already_exiting",
        "validator has already initiated its exit",
        validator_index=index,
        exit_epoch=int(validator.exit_epoch),
    )
    require(
        current_epoch >= exit_epoch,
        "voluntary_exit.epoch",
        "exit is not valid before its epoch",
        validator_index=index,
        exit_epoch=exit_epoch,
        current_epoch=current_epoch,
    )
    eligible_epoch = int(validator.activation_epoch) + spec.SHARD_COMMITTEE_PERIOD
    require(
        current_epoch >= eligible_epoch,
        "voluntary_exit.too_young",
        "validator has not been active for SHARD_COMMITTEE_PERIOD epochs",
        validator_index=index,
        eligible_epoch=eligible_epoch,
        current_epoch=current_epoch,
    )
    # Electra (EIP-7251): a validator with queued partial withdrawals cannot exit.
    if fork >= Fork.ELECTRA:
        pending = get_pending_balance_to_withdraw(spec, state, index)
        require(
            pending == 0,
            "voluntary_exit.pending_withdrawals",
            "validator has pending partial withdrawals",
            validator_index=index,
            pending_balance=pending,
        )

    # Deneb (EIP-7044) fixes the domain to the capella fork version, so a signed exit stays
    # valid in every later fork.
    if fork >= Fork.DENEB:
        domain = compute_domain(
            spec, DOMAIN_VOLUNTARY_EXIT, spec.CAPELLA_FORK_VERSION, state.genesis_validators_root
        )
    else:
        domain = get_domain(spec, state, DOMAIN_VOLUNTARY_EXIT, exit_epoch)
    sigs.add(
        [bytes(validator.pubkey)],
        compute_signing_root(spec, voluntary_exit, domain),
        bytes(signed_voluntary_exit.signature),
        "voluntary_exit",
        validator_index=index,
    )

    initiate_validator_exit(spec, state, index)
