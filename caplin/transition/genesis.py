"""Genesis: the first beacon state, built from the deposits of the eth1 deposit contract.

`initialize_beacon_state_from_eth1` follows the phase0 spec. The executable
spec of later forks no longer defines a genesis function, but chains such as
caplin's dev chain start directly in a later fork. For those, the state is
built with that fork's types and deposit rules, plus what each fork added at
genesis in earlier spec releases: altair sync committees, the bellatrix payload
header, electra's pending deposits (credited at once) and fulu's proposer lookahead.
"""

from collections.abc import Sequence
from typing import Any

from caplin.config.constants import (
    DEPOSIT_CONTRACT_TREE_DEPTH,
    GENESIS_EPOCH,
    UNSET_DEPOSIT_REQUESTS_START_INDEX,
)
from caplin.config.forks import Fork
from caplin.transition.helpers import (
    BalanceChanges,
    get_active_validator_indices,
    get_max_effective_balance,
    get_next_sync_committee,
    initialize_proposer_lookahead,
    validator_table,
)
from caplin.transition.signatures import SignatureBatch
from caplin.types.basic import List


def initialize_beacon_state_from_eth1(
    spec: Any,
    eth1_block_hash: bytes,
    eth1_timestamp: int,
    deposits: Sequence[Any],
    execution_payload_header: Any = None,
    fork: Fork | None = None,
) -> Any:
    """Return the genesis state for `deposits`, seen in eth1 block `eth1_block_hash`.

    `fork` defaults to the fork the chain config runs at epoch 0. Deposits with an invalid
    proof of possession are skipped; validators whose balance reaches the activation
    balance are active from genesis. `execution_payload_header` (bellatrix and later) is
    the header of the execution genesis block; None leaves the default (pre-merge) header.

    Raises:
        BlockProcessingError: a deposit's merkle proof does not match the deposit root.
    """
    from caplin.transition.block.deposit import process_deposit

    fork = spec.fork_at_epoch(GENESIS_EPOCH) if fork is None else Fork(fork)
    types = spec.types(fork)
    version = spec.fork_version(fork)
    state = types.BeaconState(
        genesis_time=int(eth1_timestamp) + spec.GENESIS_DELAY,
        fork=types.Fork(previous_version=version, current_version=version, epoch=GENESIS_EPOCH),
        eth1_data=types.Eth1Data(block_hash=eth1_block_hash, deposit_count=len(deposits)),
        latest_block_header=types.BeaconBlockHeader(
            body_root=types.BeaconBlockBody().hash_tree_root()
        ),
        randao_mixes=[eth1_block_hash] * spec.EPOCHS_PER_HISTORICAL_VECTOR,
    )
    if fork >= Fork.ELECTRA:
        state.deposit_requests_start_index = UNSET_DEPOSIT_REQUESTS_START_INDEX

    # Each deposit's proof is checked against the root of the deposits up to and including it.
    deposit_data_list = List[types.DepositData, 2**DEPOSIT_CONTRACT_TREE_DEPTH]()
    for deposit in deposits:
        deposit_data_list.append(deposit.data)
        state.eth1_data.deposit_root = deposit_data_list.hash_tree_root()
        process_deposit(spec, state, deposit, SignatureBatch())

    if fork >= Fork.ELECTRA:
        _credit_pending_deposits(spec, state)
    _activate_funded_validators(spec, state, fork)
    state.genesis_validators_root = state.validators.hash_tree_root()

    if fork >= Fork.ALTAIR:
        # The current and next committee are the same at genesis: there is no earlier period.
        state.current_sync_committee = get_next_sync_committee(spec, state)
        state.next_sync_committee = get_next_sync_committee(spec, state)
    if fork >= Fork.BELLATRIX and execution_payload_header is not None:
        state.latest_execution_payload_header = execution_payload_header
    if fork >= Fork.FULU:
        state.proposer_lookahead = initialize_proposer_lookahead(spec, state)
    return state


def _credit_pending_deposits(spec: Any, state: Any) -> None:
    """Turn electra's queued genesis deposits straight into balances (no churn at genesis)."""
    table = validator_table(state)
    index_of = {table.pubkey(index): index for index in range(len(table))}
    balances = BalanceChanges(spec, state)
    for deposit in state.pending_deposits.readonly_iter():
        balances.increase(index_of[bytes(deposit.pubkey)], int(deposit.amount))
    balances.write()
    state.pending_deposits = []


def _activate_funded_validators(spec: Any, state: Any, fork: Fork) -> None:
    increment = spec.EFFECTIVE_BALANCE_INCREMENT
    for index in range(len(state.validators)):
        validator = state.validators[index]
        balance = int(state.balances[index])
        if fork >= Fork.ELECTRA:
            cap = get_max_effective_balance(spec, validator)
            threshold = spec.MIN_ACTIVATION_BALANCE
        else:
            cap = threshold = spec.MAX_EFFECTIVE_BALANCE
        effective_balance = min(balance - balance % increment, cap)
        validator.effective_balance = effective_balance
        if effective_balance >= threshold:
            validator.activation_eligibility_epoch = GENESIS_EPOCH
            validator.activation_epoch = GENESIS_EPOCH


def is_valid_genesis_state(spec: Any, state: Any) -> bool:
    """Return True when `state` is late enough and has enough active validators to start."""
    if int(state.genesis_time) < spec.MIN_GENESIS_TIME:
        return False
    active = get_active_validator_indices(spec, state, GENESIS_EPOCH)
    return len(active) >= spec.MIN_GENESIS_ACTIVE_VALIDATOR_COUNT
