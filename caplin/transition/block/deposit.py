"""process_deposit: eth1 bridge deposits with a merkle proof (phase0 to electra).

Electra queues the deposited amount as a pending deposit instead of crediting it at once.
Fulu no longer accepts these deposits at all (see `process_operations`).
"""

from typing import Any

from caplin.config.constants import (
    DEPOSIT_CONTRACT_TREE_DEPTH,
    DOMAIN_DEPOSIT,
    GENESIS_SLOT,
)
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.errors import require
from caplin.transition.helpers import (
    add_validator_to_registry,
    compute_domain,
    compute_signing_root,
    increase_balance,
    is_valid_merkle_branch,
)
from caplin.transition.signatures import SignatureBatch

from ._common import find_validator_index, remember_validator_index, uint64_checked

_ZERO_ROOT = b"\x00" * 32


@uint64_checked("deposit")
def process_deposit(
    spec: Any, state: Any, deposit: Any, sigs: SignatureBatch | None = None
) -> None:
    """Check the deposit's merkle proof against the eth1 deposit root, then apply it.

    `sigs` is accepted like every other operation's but unused: an invalid deposit signature
    does not invalidate the block, it only skips the deposit, so it is checked at once.
    """
    index = int(state.eth1_deposit_index)
    require(
        is_valid_merkle_branch(
            deposit.data.hash_tree_root(),
            list(deposit.proof),
            # One more level for the mixed-in length of the deposit list.
            DEPOSIT_CONTRACT_TREE_DEPTH + 1,
            index,
            state.eth1_data.deposit_root,
        ),
        "deposit.proof",
        "deposit merkle proof does not match the eth1 deposit root",
        deposit_index=index,
        deposit_root=bytes(state.eth1_data.deposit_root),
    )
    state.eth1_deposit_index = index + 1

    data = deposit.data
    apply_deposit(
        spec, state, data.pubkey, data.withdrawal_credentials, int(data.amount), data.signature
    )


def apply_deposit(
    spec: Any,
    state: Any,
    pubkey: bytes,
    withdrawal_credentials: bytes,
    amount: int,
    signature: bytes,
) -> None:
    """Add a validator for a new pubkey with a valid signature, or top up an existing one.

    A deposit for a new pubkey with an invalid signature is skipped. From electra the amount
    goes to `pending_deposits` (slot GENESIS_SLOT marks an eth1 bridge deposit) and a new
    validator starts with a zero balance.
    """
    fork = spec.fork_of(state)
    index = find_validator_index(state, pubkey)
    if index is None:
        if not is_valid_deposit_signature(spec, pubkey, withdrawal_credentials, amount, signature):
            return
        initial_balance = 0 if fork >= Fork.ELECTRA else amount
        add_validator_to_registry(spec, state, pubkey, withdrawal_credentials, initial_balance)
        remember_validator_index(pubkey, len(state.validators) - 1)
        if fork < Fork.ELECTRA:
            return
    elif fork < Fork.ELECTRA:
        increase_balance(spec, state, index, amount)
        return

    state.pending_deposits.append(
        spec.types(fork).PendingDeposit(
            pubkey=pubkey,
            withdrawal_credentials=withdrawal_credentials,
            amount=amount,
            signature=signature,
            slot=GENESIS_SLOT,
        )
    )


def is_valid_deposit_signature(
    spec: Any, pubkey: bytes, withdrawal_credentials: bytes, amount: int, signature: bytes
) -> bool:
    """Return whether `signature` is the pubkey's proof of possession over the deposit message.

    Deposits are signed with the genesis fork version and a zero genesis validators root, so
    one deposit is valid on every fork.
    """
    message = spec.types(Fork.PHASE0).DepositMessage(
        pubkey=pubkey, withdrawal_credentials=withdrawal_credentials, amount=amount
    )
    domain = compute_domain(spec, DOMAIN_DEPOSIT, spec.GENESIS_FORK_VERSION, _ZERO_ROOT)
    signing_root = compute_signing_root(spec, message, domain)
    return bls.Verify(bytes(pubkey), signing_root, bytes(signature))
