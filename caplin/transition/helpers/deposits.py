"""Deposit signature check, shared by deposit processing and electra's pending deposits."""

from typing import Any

from caplin.config.constants import DOMAIN_DEPOSIT
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition.helpers.misc import compute_domain, compute_signing_root

_ZERO_ROOT = b"\x00" * 32


def is_valid_deposit_signature(
    spec: Any, pubkey: bytes, withdrawal_credentials: bytes, amount: int, signature: bytes
) -> bool:
    """Return whether `signature` is the key's proof of possession over the deposit message.

    The domain uses the genesis fork version and a zero genesis validators root, so one
    deposit signature is valid on every fork and chain state. Checked at once, not batched:
    a deposit with an invalid signature is skipped, not rejected.
    """
    message = spec.types(Fork.PHASE0).DepositMessage(
        pubkey=pubkey, withdrawal_credentials=withdrawal_credentials, amount=int(amount)
    )
    domain = compute_domain(spec, DOMAIN_DEPOSIT, spec.GENESIS_FORK_VERSION, _ZERO_ROOT)
    return bls.Verify(bytes(pubkey), compute_signing_root(spec, message, domain), bytes(signature))
