"""The local development chain: its chain spec and its genesis state.

A dev chain starts with `validator_count` interop validators, all active from genesis with
32 ETH and BLS withdrawal credentials, at the fork `genesis_fork`. From bellatrix on, the
genesis state commits to the embedded engine's execution genesis block, so the first block
already carries a payload. A chain that reaches bellatrix after genesis merges in its first
bellatrix block, on the execution genesis block (TERMINAL_BLOCK_HASH).
"""

from typing import Any

from caplin.config import ChainSpec
from caplin.config.constants import (
    BLS_WITHDRAWAL_PREFIX,
    FAR_FUTURE_EPOCH,
    GENESIS_EPOCH,
    UNSET_DEPOSIT_REQUESTS_START_INDEX,
)
from caplin.config.forks import Fork
from caplin.crypto.hash import sha256
from caplin.transition.helpers import get_next_sync_committee, initialize_proposer_lookahead
from caplin.types.basic import List

DEPOSIT_CONTRACT_TREE_DEPTH = 32
GWEI_PER_ETH = 10**9
# Names of the genesis forks a dev chain accepts, in order.
FORK_NAMES = tuple(fork.lower for fork in Fork)


def dev_chain_spec(
    preset: str,
    genesis_fork: Fork,
    terminal_block_hash: bytes,
    overrides: dict[str, Any] | None = None,
) -> ChainSpec:
    """Build the spec of a dev chain: `preset`, every fork up to `genesis_fork` at epoch 0.

    `overrides` are config values applied last (fork epochs, SLOT_DURATION_MS, ...).
    `terminal_block_hash` is the execution genesis hash, where a chain that starts before
    bellatrix merges.
    """
    config: dict[str, Any] = {"PRESET_BASE": preset, "CONFIG_NAME": "dev"}
    for fork in list(Fork)[1:]:
        config[f"{fork.name}_FORK_EPOCH"] = 0 if fork <= genesis_fork else FAR_FUTURE_EPOCH
    config["TERMINAL_TOTAL_DIFFICULTY"] = 0
    config["TERMINAL_BLOCK_HASH"] = "0x" + terminal_block_hash.hex()
    config["TERMINAL_BLOCK_HASH_ACTIVATION_EPOCH"] = 0
    config["MIN_GENESIS_ACTIVE_VALIDATOR_COUNT"] = 1
    config["MIN_GENESIS_TIME"] = 0
    config["GENESIS_DELAY"] = 0
    config.update(overrides or {})
    return ChainSpec.from_config(config, preset=preset)


def interop_withdrawal_credentials(pubkey: bytes) -> bytes:
    """Return the BLS withdrawal credentials interop validators use: 0x00 ++ sha256(pubkey)[1:]."""
    return BLS_WITHDRAWAL_PREFIX + sha256(pubkey)[1:]


def build_genesis_state(
    spec: Any,
    pubkeys: list[bytes],
    genesis_time: int,
    eth1_block_hash: bytes,
    execution_payload: Any = None,
) -> Any:
    """Return the genesis state of a dev chain at the fork the spec runs at epoch 0.

    Every validator is active at genesis with the maximum effective balance (32 ETH); the
    deposits count as already processed. `execution_payload` is the execution genesis block
    as a consensus `ExecutionPayload` of the genesis fork (bellatrix and later); None leaves
    the pre-merge default header.
    """
    fork = spec.fork_at_epoch(GENESIS_EPOCH)
    types = spec.types(fork)
    version = spec.fork_version(fork)
    balance = 32 * GWEI_PER_ETH
    validators = [_genesis_validator(types, pubkey, balance) for pubkey in pubkeys]
    deposit_root = _deposit_root(types, pubkeys, balance)

    state = types.BeaconState(
        genesis_time=genesis_time,
        fork=types.Fork(previous_version=version, current_version=version, epoch=GENESIS_EPOCH),
        eth1_data=types.Eth1Data(
            deposit_root=deposit_root, deposit_count=len(pubkeys), block_hash=eth1_block_hash
        ),
        eth1_deposit_index=len(pubkeys),
        latest_block_header=types.BeaconBlockHeader(
            body_root=types.BeaconBlockBody().hash_tree_root()
        ),
        randao_mixes=[eth1_block_hash] * spec.EPOCHS_PER_HISTORICAL_VECTOR,
        validators=validators,
        balances=[balance] * len(pubkeys),
    )
    state.genesis_validators_root = state.validators.hash_tree_root()

    # Altair replaced pending attestations with per-validator participation and scores.
    if fork >= Fork.ALTAIR:
        state.previous_epoch_participation = [0] * len(pubkeys)
        state.current_epoch_participation = [0] * len(pubkeys)
        state.inactivity_scores = [0] * len(pubkeys)
        # Current and next committee are the same at genesis: there is no earlier period.
        state.current_sync_committee = get_next_sync_committee(spec, state)
        state.next_sync_committee = get_next_sync_committee(spec, state)
    if fork >= Fork.BELLATRIX and execution_payload is not None:
        state.latest_execution_payload_header = payload_header(types, execution_payload)
    if fork >= Fork.ELECTRA:
        state.deposit_requests_start_index = UNSET_DEPOSIT_REQUESTS_START_INDEX
    if fork >= Fork.FULU:
        state.proposer_lookahead = initialize_proposer_lookahead(spec, state)
    return state


def genesis_block(spec: Any, state: Any) -> Any:
    """Return the genesis `BeaconBlock`: empty body, committing to `state`."""
    types = spec.types(spec.fork_of(state))
    return types.BeaconBlock(state_root=state.hash_tree_root())


def payload_header(types: Any, payload: Any) -> Any:
    """Return the `ExecutionPayloadHeader` of a consensus `ExecutionPayload`."""
    header_type = types.ExecutionPayloadHeader
    fields = {}
    for name in header_type.fields():
        if name in ("transactions_root", "withdrawals_root"):
            fields[name] = getattr(payload, name[: -len("_root")]).hash_tree_root()
        else:
            fields[name] = getattr(payload, name)
    return header_type(**fields)


def _genesis_validator(types: Any, pubkey: bytes, balance: int) -> Any:
    return types.Validator(
        pubkey=pubkey,
        withdrawal_credentials=interop_withdrawal_credentials(pubkey),
        effective_balance=balance,
        slashed=False,
        activation_eligibility_epoch=GENESIS_EPOCH,
        activation_epoch=GENESIS_EPOCH,
        exit_epoch=FAR_FUTURE_EPOCH,
        withdrawable_epoch=FAR_FUTURE_EPOCH,
    )


def _deposit_root(types: Any, pubkeys: list[bytes], balance: int) -> bytes:
    # The deposits are never replayed, so their signatures are left empty; only the count and
    # root matter, for eth1 data votes.
    deposits = List[types.DepositData, 2**DEPOSIT_CONTRACT_TREE_DEPTH](
        types.DepositData(
            pubkey=pubkey,
            withdrawal_credentials=interop_withdrawal_credentials(pubkey),
            amount=balance,
        )
        for pubkey in pubkeys
    )
    return bytes(deposits.hash_tree_root())
