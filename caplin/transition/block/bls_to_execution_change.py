"""process_bls_to_execution_change: switch BLS withdrawal credentials to an execution address
(capella)."""

from typing import Any

from caplin.config.constants import (
    BLS_WITHDRAWAL_PREFIX,
    DOMAIN_BLS_TO_EXECUTION_CHANGE,
    ETH1_ADDRESS_WITHDRAWAL_PREFIX,
)
from caplin.crypto.hash import sha256
from caplin.errors import require
from caplin.transition.helpers import compute_domain, compute_signing_root
from caplin.transition.signatures import SignatureBatch

from ._common import require_validator_index, uint64_checked


@uint64_checked("bls_to_execution_change")
def process_bls_to_execution_change(
    spec: Any, state: Any, signed_address_change: Any, sigs: SignatureBatch
) -> None:
    """Check the change against the validator's BLS credentials, add its signature to `sigs`
    and set 0x01 credentials with the new execution address."""
    address_change = signed_address_change.message
    index = int(address_change.validator_index)
    require_validator_index(state, index, "bls_to_execution_change.validator_index")
    validator = state.validators[index]
    credentials = bytes(validator.withdrawal_credentials)
    from_pubkey = bytes(address_change.from_bls_pubkey)

    require(
        credentials[:1] == bytes(BLS_WITHDRAWAL_PREFIX),
        "bls_to_execution_change.credentials",
        "validator does not have BLS withdrawal credentials",
        validator_index=index,
        withdrawal_credentials=credentials,
    )
    require(
        credentials[1:] == sha256(from_pubkey)[1:],
        "bls_to_execution_change.pubkey",
        "from_bls_pubkey does not match the withdrawal credentials",
        validator_index=index,
        from_bls_pubkey=from_pubkey,
    )

    # The domain uses the genesis fork version, so a signed change is valid in every fork.
    domain = compute_domain(
        spec,
        DOMAIN_BLS_TO_EXECUTION_CHANGE,
        spec.GENESIS_FORK_VERSION,
        state.genesis_validators_root,
    )
    sigs.add(
        [from_pubkey],
        compute_signing_root(spec, address_change, domain),
        bytes(signed_address_change.signature),
        "bls_to_execution_change",
        validator_index=index,
    )

    validator.withdrawal_credentials = (
        bytes(ETH1_ADDRESS_WITHDRAWAL_PREFIX)
        + b"\x00" * 11
        + bytes(address_change.to_execution_address)
    )
