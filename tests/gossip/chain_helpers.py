"""A small phase0 chain with known keys, for gossip validation tests.

Validator `i` has secret key `i + 1`. The genesis state is built directly (no
deposits): every validator is active from epoch 0 with the maximum balance.
Genesis time is 0, so a slot starts at `slot * SLOT_DURATION_MS` milliseconds.
"""

from typing import Any

from remerkleable.basic import uint64

from caplin.config import ChainSpec, constants
from caplin.config.forks import Fork
from caplin.crypto import bls
from caplin.transition.helpers import (
    compute_signing_root,
    get_beacon_committee,
    get_beacon_proposer_index,
    get_domain,
)
from caplin.transition.slot import process_slots
from caplin.transition.state_transition import state_transition

SPEC = ChainSpec.for_preset("minimal")
FORK = Fork.PHASE0
TYPES = SPEC.types(FORK)
VALIDATOR_COUNT = 64


def secret_key(index: int) -> int:
    return index + 1


def genesis_state(slot: int = 0) -> Any:
    """Return a phase0 state at `slot` with `VALIDATOR_COUNT` active validators."""
    balance = SPEC.MAX_EFFECTIVE_BALANCE
    validators = [
        TYPES.Validator(
            pubkey=bls.SkToPk(secret_key(index)),
            withdrawal_credentials=b"\x00" * 32,
            effective_balance=balance,
            activation_eligibility_epoch=0,
            activation_epoch=0,
            exit_epoch=constants.FAR_FUTURE_EPOCH,
            withdrawable_epoch=constants.FAR_FUTURE_EPOCH,
        )
        for index in range(VALIDATOR_COUNT)
    ]
    state = TYPES.BeaconState(
        slot=slot,
        validators=validators,
        balances=[balance] * VALIDATOR_COUNT,
        fork=TYPES.Fork(
            previous_version=SPEC.GENESIS_FORK_VERSION,
            current_version=SPEC.GENESIS_FORK_VERSION,
            epoch=0,
        ),
        latest_block_header=TYPES.BeaconBlockHeader(
            slot=slot, body_root=TYPES.BeaconBlockBody().hash_tree_root()
        ),
    )
    state.genesis_validators_root = state.validators.hash_tree_root()
    return state


def anchor_block(state: Any) -> Any:
    """Return the block whose post-state `state` is."""
    return TYPES.BeaconBlock(slot=state.slot, state_root=state.hash_tree_root())


def sign(state: Any, domain_type: bytes, epoch: int, message: Any, index: int) -> bytes:
    domain = get_domain(SPEC, state, domain_type, epoch)
    return bls.Sign(secret_key(index), compute_signing_root(SPEC, message, domain))


def build_block(
    parent_state: Any, parent_root: bytes, slot: int, proposer: int | None = None
) -> tuple[Any, Any]:
    """Return a signed block at `slot` on `parent_root` and its post-state.

    `proposer` replaces the expected proposer after the transition, and signs the
    block, so the block is invalid only in its proposer.
    """
    state = process_slots(SPEC, parent_state.copy(), slot)
    expected = get_beacon_proposer_index(SPEC, state)
    epoch = slot // SPEC.SLOTS_PER_EPOCH
    randao_reveal = sign(state, constants.DOMAIN_RANDAO, epoch, uint64(epoch), expected)
    block = TYPES.BeaconBlock(
        slot=slot,
        proposer_index=expected,
        parent_root=parent_root,
        body=TYPES.BeaconBlockBody(eth1_data=state.eth1_data, randao_reveal=randao_reveal),
    )
    post_state = state_transition(
        SPEC,
        parent_state,
        TYPES.SignedBeaconBlock(message=block),
        validate_result=False,
        verify_signatures=False,
    )
    block.state_root = post_state.hash_tree_root()
    if proposer is None:
        proposer = expected
    block.proposer_index = proposer
    signature = sign(post_state, constants.DOMAIN_BEACON_PROPOSER, epoch, block, proposer)
    return TYPES.SignedBeaconBlock(message=block, signature=signature), post_state


def build_attestation(
    state: Any,
    block_root: bytes,
    slot: int,
    committee_index: int,
    positions: list[int],
    target_root: bytes | None = None,
) -> Any:
    """Return an attestation of the committee members at `positions`, signed by them."""
    committee = get_beacon_committee(SPEC, state, slot, committee_index)
    epoch = slot // SPEC.SLOTS_PER_EPOCH
    data = TYPES.AttestationData(
        slot=slot,
        index=committee_index,
        beacon_block_root=block_root,
        target=TYPES.Checkpoint(
            epoch=epoch, root=block_root if target_root is None else target_root
        ),
    )
    signatures = [
        sign(state, constants.DOMAIN_BEACON_ATTESTER, epoch, data, committee[position])
        for position in positions
    ]
    bits = [position in positions for position in range(len(committee))]
    signature = bls.Aggregate(signatures) if signatures else constants.G2_POINT_AT_INFINITY
    return TYPES.Attestation(aggregation_bits=bits, data=data, signature=signature)


def slot_time_ms(slot: int) -> int:
    return slot * SPEC.SLOT_DURATION_MS
