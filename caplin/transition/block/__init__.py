"""Block processing: `process_block` and one module per operation, phase0 to fulu.

Every function takes the `ChainSpec` first, mutates the state in place and raises
`BlockProcessingError` naming the rule a block breaks. Operations add their signatures to
a `SignatureBatch` that the caller verifies once per block. Deposit signatures are the
exception, because an invalid one skips the deposit instead of invalidating the block.
"""

from typing import Any

from caplin.config.forks import Fork
from caplin.errors import require
from caplin.transition.engine import ExecutionEngine
from caplin.transition.helpers import is_execution_enabled
from caplin.transition.signatures import SignatureBatch

from .attestation import ParticipationFlags, process_attestation, process_attestations
from .attester_slashing import process_attester_slashing
from .bls_to_execution_change import process_bls_to_execution_change
from .consolidation_request import (
    is_valid_switch_to_compounding_request,
    process_consolidation_request,
)
from .deposit import apply_deposit, is_valid_deposit_signature, process_deposit
from .deposit_request import process_deposit_request, process_deposit_requests
from .eth1_data import process_eth1_data
from .execution_payload import get_max_blobs_per_block, process_execution_payload
from .header import process_block_header
from .proposer_slashing import process_proposer_slashing
from .randao import process_randao
from .sync_aggregate import process_sync_aggregate
from .voluntary_exit import process_voluntary_exit
from .withdrawal_request import process_withdrawal_request
from .withdrawals import (
    ExpectedWithdrawals,
    Withdrawal,
    get_expected_withdrawals,
    process_withdrawals,
)

__all__ = [
    "ExpectedWithdrawals",
    "ParticipationFlags",
    "Withdrawal",
    "apply_deposit",
    "get_expected_withdrawals",
    "get_max_blobs_per_block",
    "is_valid_deposit_signature",
    "is_valid_switch_to_compounding_request",
    "process_attestation",
    "process_attestations",
    "process_attester_slashing",
    "process_block",
    "process_block_header",
    "process_bls_to_execution_change",
    "process_consolidation_request",
    "process_deposit",
    "process_deposit_request",
    "process_deposit_requests",
    "process_eth1_data",
    "process_execution_payload",
    "process_operations",
    "process_proposer_slashing",
    "process_randao",
    "process_sync_aggregate",
    "process_voluntary_exit",
    "process_withdrawal_request",
    "process_withdrawals",
]


def process_block(
    spec: Any, state: Any, block: Any, sigs: SignatureBatch, engine: ExecutionEngine
) -> None:
    """Apply `block` (a `BeaconBlock` of the state's fork) to `state`.

    The block's own proposer signature is not checked here, because `state_transition` adds it.
    Signatures of the block's contents go to `sigs`, which the caller verifies.

    Raises:
        BlockProcessingError: the block breaks a consensus rule. `state` is then partly
            modified and must be discarded.
    """
    fork = spec.fork_of(state)
    block_fork = spec.fork_of(block)
    require(
        block_fork == fork,
        "block.fork",
        "block type is of another fork than the state",
        slot=int(block.slot),
        block_fork=block_fork.lower,
        state_fork=fork.lower,
    )
    body = block.body
    process_block_header(spec, state, block)

    # From capella every block has a payload, and its withdrawals come first. Bellatrix
    # processes a payload only once the merge has started.
    if fork >= Fork.CAPELLA:
        process_withdrawals(spec, state, body.execution_payload)
        # NOTE: the spec assumes the merge happened before capella. Chains that reach capella
        # unmerged (Lodestar 1.5.1 dev chains, empty payloads) skip the payload as bellatrix
        # does; on a merged state the check is always true.
        if is_execution_enabled(spec, state, body):
            process_execution_payload(spec, state, body, engine)
    elif fork == Fork.BELLATRIX and is_execution_enabled(spec, state, body):
        process_execution_payload(spec, state, body, engine)

    process_randao(spec, state, body, sigs)
    process_eth1_data(spec, state, body)
    process_operations(spec, state, body, sigs)
    if fork >= Fork.ALTAIR:
        process_sync_aggregate(spec, state, body.sync_aggregate, sigs)


def process_operations(spec: Any, state: Any, body: Any, sigs: SignatureBatch) -> None:
    """Apply the operations of `body` in the spec's order, after checking the deposit count."""
    fork = spec.fork_of(state)
    _check_deposit_count(spec, state, body, fork)

    for proposer_slashing in body.proposer_slashings:
        process_proposer_slashing(spec, state, proposer_slashing, sigs)
    for attester_slashing in body.attester_slashings:
        process_attester_slashing(spec, state, attester_slashing, sigs)
    process_attestations(spec, state, body.attestations, sigs)
    for deposit in body.deposits:
        process_deposit(spec, state, deposit, sigs)
    for voluntary_exit in body.voluntary_exits:
        process_voluntary_exit(spec, state, voluntary_exit, sigs)

    if fork >= Fork.CAPELLA:
        for address_change in body.bls_to_execution_changes:
            process_bls_to_execution_change(spec, state, address_change, sigs)

    if fork >= Fork.ELECTRA:
        requests = body.execution_requests
        process_deposit_requests(spec, state, list(requests.deposits))
        for withdrawal_request in requests.withdrawals:
            process_withdrawal_request(spec, state, withdrawal_request)
        for consolidation_request in requests.consolidations:
            process_consolidation_request(spec, state, consolidation_request)


def _check_deposit_count(spec: Any, state: Any, body: Any, fork: Fork) -> None:
    """Require the block to include every pending eth1 deposit, up to MAX_DEPOSITS."""
    actual = len(body.deposits)
    deposit_index = int(state.eth1_deposit_index)
    if fork >= Fork.FULU:
        # Fulu drops the eth1 bridge: deposits arrive only as execution requests.
        expected = 0
    elif fork >= Fork.ELECTRA:
        # Electra (EIP-6110) stops the bridge at the first deposit request's index.
        limit = min(int(state.eth1_data.deposit_count), int(state.deposit_requests_start_index))
        expected = min(spec.MAX_DEPOSITS, limit - deposit_index) if deposit_index < limit else 0
    else:
        outstanding = int(state.eth1_data.deposit_count) - deposit_index
        require(
            outstanding >= 0,
            "deposits.count",
            "state has processed more deposits than eth1_data reports",
            deposit_count=int(state.eth1_data.deposit_count),
            eth1_deposit_index=deposit_index,
        )
        expected = min(spec.MAX_DEPOSITS, outstanding)
    require(
        actual == expected,
        "deposits.count",
        "block does not include the expected number of deposits",
        expected=expected,
        actual=actual,
    )
