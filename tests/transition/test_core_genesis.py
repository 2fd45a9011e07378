"""Genesis from deposits: the phase0 spec function and the later-fork variants."""

import pytest
from test_core_support import MINIMAL, reference

from caplin.config.constants import DEPOSIT_CONTRACT_TREE_DEPTH, DOMAIN_DEPOSIT
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.merkle import compute_merkle_proof, get_generalized_index
from caplin.transition import helpers as h
from caplin.transition.genesis import initialize_beacon_state_from_eth1, is_valid_genesis_state
from caplin.types.basic import List

spec = MINIMAL
ETH = 10**9
BLOCK_HASH = b"\x42" * 32
TIMESTAMP = spec.MIN_GENESIS_TIME


def make_deposits(fork: Fork, amounts: list[tuple[int, int]]) -> list:
    """Return signed deposits with proofs; `amounts` is (secret key, Gwei) per deposit."""
    types = spec.types(fork)
    domain = h.compute_domain(spec, DOMAIN_DEPOSIT, spec.GENESIS_FORK_VERSION, b"\x00" * 32)
    data_list = List[types.DepositData, 2**DEPOSIT_CONTRACT_TREE_DEPTH]()
    deposits = []
    for secret_key, amount in amounts:
        pubkey = bls.SkToPk(secret_key)
        credentials = b"\x01" + b"\x00" * 11 + secret_key.to_bytes(20, "little")
        message = types.DepositMessage(
            pubkey=pubkey, withdrawal_credentials=credentials, amount=amount
        )
        data = types.DepositData(
            pubkey=pubkey,
            withdrawal_credentials=credentials,
            amount=amount,
            signature=bls.Sign(secret_key, h.compute_signing_root(spec, message, domain)),
        )
        data_list.append(data)
        gindex = get_generalized_index(type(data_list), len(data_list) - 1)
        deposits.append(types.Deposit(proof=compute_merkle_proof(data_list, gindex), data=data))
    return deposits


def test_phase0_genesis_matches_reference() -> None:
    ref = reference(Fork.PHASE0)
    deposits = make_deposits(Fork.PHASE0, [(key, 32 * ETH) for key in range(1, 9)] + [(9, 7 * ETH)])
    state = initialize_beacon_state_from_eth1(spec, BLOCK_HASH, TIMESTAMP, deposits)
    ref_deposits = [ref.Deposit.decode_bytes(deposit.encode_bytes()) for deposit in deposits]
    expected = ref.initialize_beacon_state_from_eth1(
        ref.Bytes32(BLOCK_HASH), ref.Uint64(TIMESTAMP), ref_deposits
    )
    assert state.hash_tree_root() == ref.hash_tree_root(expected)
    assert len(h.get_active_validator_indices(spec, state, 0)) == 8
    # Too few validators for the minimal preset's MIN_GENESIS_ACTIVE_VALIDATOR_COUNT.
    assert not is_valid_genesis_state(spec, state)


@pytest.mark.parametrize("fork", [Fork.ALTAIR, Fork.ELECTRA, Fork.FULU], ids=lambda f: f.lower)
def test_later_fork_genesis(fork: Fork) -> None:
    amounts = [(key, 32 * ETH) for key in range(1, 9)]
    # A second deposit for key 1 tops it up; key 9 stays below the activation balance.
    amounts += [(1, 2 * ETH), (9, 16 * ETH)]
    state = initialize_beacon_state_from_eth1(
        spec, BLOCK_HASH, TIMESTAMP, make_deposits(fork, amounts), fork=fork
    )
    assert spec.fork_of(state) == fork
    assert bytes(state.fork.current_version) == spec.fork_version(fork)
    assert len(state.validators) == 9
    assert int(state.balances[0]) == 34 * ETH
    assert int(state.validators[0].effective_balance) == 32 * ETH
    assert h.get_active_validator_indices(spec, state, 0) == tuple(range(8))
    assert int(state.eth1_deposit_index) == 10
    committee = h.get_next_sync_committee(spec, state)
    assert state.current_sync_committee.hash_tree_root() == committee.hash_tree_root()
    if fork >= Fork.ELECTRA:
        assert len(state.pending_deposits) == 0
    if fork >= Fork.FULU:
        assert list(state.proposer_lookahead) == h.initialize_proposer_lookahead(spec, state)
